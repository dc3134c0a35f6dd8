package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"
)

// maxPasswordBytes is what bcrypt reads of a password; it refuses more.
const maxPasswordBytes = 72

func (a *app) hashPasswordCommand() *cobra.Command {
	var cost int
	cmd := &cobra.Command{
		Use:   "hash-password",
		Short: "Print the bcrypt hash of a dashboard password for server.dashboard.password_hash",
		Long: `Read a password from standard input (its first line, without the line
ending; spaces are kept) and print its bcrypt hash, for the dashboard's
server.dashboard.password_hash. The config takes the hash from the
environment or a file only, never written in ferry.yaml itself.

At a terminal it asks for the password; what you type is shown, so pipe
it in where someone may watch the screen.`,
		Example: `  printf '%s' "$PASSWORD" | ferry hash-password
  ferry hash-password < /run/secrets/dashboard-password > /run/secrets/ferry-dashboard-hash
  export FERRY_DASHBOARD_PASSWORD_HASH="$(ferry hash-password < password.txt)"
  # ferry.yaml:
  #   server:
  #     dashboard:
  #       password_hash: "${env:FERRY_DASHBOARD_PASSWORD_HASH}"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
				return withCode(ExitUsage, fmt.Errorf("--cost %d: expected %d to %d (default %d)", cost, bcrypt.MinCost, bcrypt.MaxCost, bcrypt.DefaultCost))
			}
			// isTerminal takes an io.Writer; an *os.File is both.
			stdin, _ := a.stdin.(*os.File)
			interactive := stdin != nil && isTerminal(stdin)
			if interactive {
				fmt.Fprint(a.stderr, "Dashboard password (shown as you type): ")
			}
			pw, err := readPassword(a.stdin)
			if err != nil {
				return withCode(ExitUsage, err)
			}
			hash, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
			if err != nil {
				return withCode(ExitFailed, fmt.Errorf("hash the password: %w", err))
			}
			if _, err := fmt.Fprintln(a.stdout, string(hash)); err != nil {
				return withCode(ExitFailed, fmt.Errorf("write the hash: %w", err))
			}
			if interactive {
				fmt.Fprintln(a.stderr, `Give it to ferry through the environment or a file, e.g. password_hash: "${env:FERRY_DASHBOARD_PASSWORD_HASH}".`)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&cost, "cost", bcrypt.DefaultCost, "bcrypt cost: each step doubles the time a login (and a guess) takes")
	return cmd
}

// readPassword reads the first line of r without its line ending. The
// errors never quote the password.
func readPassword(r io.Reader) (string, error) {
	if r == nil {
		return "", errors.New("no password: pipe it to standard input")
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password: %w", err)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	switch {
	case pw == "":
		return "", errors.New("empty password: give it on standard input, e.g. printf '%s' \"$PASSWORD\" | ferry hash-password")
	case len(pw) > maxPasswordBytes:
		return "", fmt.Errorf("the password is %d bytes long; bcrypt takes at most %d", len(pw), maxPasswordBytes)
	}
	return pw, nil
}
