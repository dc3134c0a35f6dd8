package sqlite

// syncDir does nothing on Windows: a folder cannot be opened for a sync
// there, and NTFS journals the creation of a file itself.
func syncDir(string) error { return nil }
