// Command dump_socksfc is a thin main: the command lives in internal/cli (run 'dump_socksfc --help').
package main

import (
	"os"

	"github.com/sockd/sockd/internal/cli"
)

func main() { os.Exit(cli.RunAs("dump_socksfc")) }
