// Command genman regenerates the section 8 man pages under docs/man from
// the cobra commands: go run ./internal/cli/genman docs/man
package main

import (
	"fmt"
	"os"

	"github.com/sockd/sockd/internal/cli"
)

func main() {
	dir := "docs/man"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	if err := cli.GenerateMan(dir); err != nil {
		fmt.Fprintln(os.Stderr, "genman:", err)
		os.Exit(1)
	}
}
