// Command make_sockdfc is a thin main: the command lives in internal/cli (run 'make_sockdfc --help').
package main

import (
	"os"

	"github.com/sockd/sockd/internal/cli"
)

func main() { os.Exit(cli.RunAs("make_sockdfc")) }
