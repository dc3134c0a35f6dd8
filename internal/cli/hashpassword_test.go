package cli

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// ferryWithInput runs the CLI with stdin.
func ferryWithInput(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHashPassword(t *testing.T) {
	for _, tc := range []struct{ name, stdin, password string }{
		{"line", "correct horse\n", "correct horse"},
		{"no line ending", "correct horse", "correct horse"},
		{"CRLF", "correct horse\r\nsecond line\n", "correct horse"},
		{"spaces kept", "  padded  \n", "  padded  "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := ferryWithInput(t, tc.stdin, "hash-password", "--cost", "4")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			hash := strings.TrimSuffix(out, "\n")
			if strings.Contains(hash, "\n") || errOut != "" {
				t.Fatalf("stdout %q stderr %q, want one line: the hash", out, errOut)
			}
			if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(tc.password)); err != nil {
				t.Errorf("the hash does not match %q: %v", tc.password, err)
			}
			if cost, _ := bcrypt.Cost([]byte(hash)); cost != 4 {
				t.Errorf("cost %d, want 4", cost)
			}
		})
	}
	code, out, _ := ferryWithInput(t, "pw\n", "hash-password")
	if cost, err := bcrypt.Cost([]byte(strings.TrimSpace(out))); code != 0 || err != nil || cost != bcrypt.DefaultCost {
		t.Errorf("default cost: exit %d, cost %d, %v", code, cost, err)
	}
}

func TestHashPasswordRefuses(t *testing.T) {
	long := strings.Repeat("x", 73)
	for _, tc := range []struct{ name, stdin, flag, want string }{
		{"empty", "", "4", "empty password"},
		{"empty line", "\nsecond\n", "4", "empty password"},
		{"too long", long + "\n", "4", "73 bytes long; bcrypt takes at most 72"},
		{"cost too low", "pw\n", "3", "--cost 3: expected 4 to 31"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := ferryWithInput(t, tc.stdin, "hash-password", "--cost", tc.flag)
			if code != ExitUsage || out != "" || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, tc.want)
			}
			if strings.Contains(errOut, long) {
				t.Error("the error quotes the password")
			}
		})
	}
	code, out, _ := ferryWithInput(t, "", "hash-password", "--help")
	if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "password_hash") {
		t.Errorf("--help:\n%s", out)
	}
}
