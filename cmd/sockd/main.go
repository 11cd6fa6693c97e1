// Command sockd is a thin main: the command lives in internal/cli (run 'sockd --help').
package main

import (
	"os"

	"github.com/sockd/sockd/internal/cli"
)

func main() { os.Exit(cli.RunAs("sockd")) }
