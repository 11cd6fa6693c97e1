// Command socks is the SOCKS client command, a thin main: the command lives
// in internal/cli (run 'socks --help').
package main

import (
	"os"

	"github.com/sockd/sockd/internal/cli"
)

func main() { os.Exit(cli.RunAs("socks")) }
