package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// Flag checks shared by the commands. Each returns a usage error (exit 2)
// that names the flags and says why, so a script that passes a flag that
// would be ignored or contradicted learns it at once instead of getting a
// different answer than it asked for.

// nonNegative refuses negative values of the named int flags.
func nonNegative(cmd *cobra.Command, names ...string) error {
	for _, name := range names {
		f := cmd.Flags().Lookup(name)
		if f == nil {
			continue
		}
		if n, err := cmd.Flags().GetInt(name); err == nil && n < 0 {
			return withCode(ExitUsage, fmt.Errorf("--%s %d: must not be negative", name, n))
		}
	}
	return nil
}

// atLeastOne refuses values below 1 of the named int flags (where 0
// would show nothing, or silently mean a default).
func atLeastOne(cmd *cobra.Command, names ...string) error {
	for _, name := range names {
		if n, err := cmd.Flags().GetInt(name); err == nil && n < 1 {
			return withCode(ExitUsage, fmt.Errorf("--%s %d: expected at least 1", name, n))
		}
	}
	return nil
}

// exclusive refuses more than one of the named flags; why says what each
// one does, so the message helps to pick.
func exclusive(cmd *cobra.Command, why string, names ...string) error {
	var set []string
	for _, name := range names {
		if cmd.Flags().Changed(name) {
			set = append(set, "--"+name)
		}
	}
	if len(set) < 2 {
		return nil
	}
	msg := fmt.Sprintf("%s cannot be used together", strings.Join(set, " and "))
	if why != "" {
		msg += ": " + why
	}
	return withCode(ExitUsage, fmt.Errorf("%s", msg))
}

// requires refuses flag when needed is not set: flag only means something
// together with needed.
func requires(cmd *cobra.Command, flag, needed string) error {
	if cmd.Flags().Changed(flag) && !cmd.Flags().Changed(needed) {
		return withCode(ExitUsage, fmt.Errorf("--%s only applies with --%s", flag, needed))
	}
	return nil
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
