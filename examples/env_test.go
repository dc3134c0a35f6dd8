package examples_test

import "os"

// unsetenv removes a variable for the rest of a test; call t.Setenv on it
// first so it is restored afterwards.
func unsetenv(name string) error { return os.Unsetenv(name) }
