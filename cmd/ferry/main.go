// Command ferry is the integration engine's command line.
package main

import (
	"os"

	"github.com/ferry-dev/ferry/internal/cli"
	"github.com/ferry-dev/ferry/internal/gctune"
)

func main() {
	gctune.Apply()
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
