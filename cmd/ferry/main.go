// Command ferry is the integration engine's command line.
package main

import (
	"os"

	"github.com/ferry-dev/ferry/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
