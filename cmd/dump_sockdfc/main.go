// Command dump_sockdfc is a thin main: the command lives in internal/cli (run 'dump_sockdfc --help').
package main

import (
	"os"

	"github.com/sockd/sockd/internal/cli"
)

func main() { os.Exit(cli.RunAs("dump_sockdfc")) }
