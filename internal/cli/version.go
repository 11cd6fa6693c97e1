package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/internal/version"
)

// setVersion gives every command of the tree --version (cobra adds the
// flag only to commands whose Version is set), printing the program's
// name and the toolchain's version. Cobra adds its completion command
// only while executing; it is added here first (for the args about to
// run) so that it gets --version too.
func setVersion(c *cobra.Command, name string, args []string) {
	c.InitDefaultCompletionCmd(args...)
	setVersionTree(c, name)
}

func setVersionTree(c *cobra.Command, name string) {
	c.Version = version.Version
	c.SetVersionTemplate(fmt.Sprintf("%s (sockd toolchain) %s\n", name, version.Version))
	c.InitDefaultVersionFlag() // now, not at execution, so that the man pages list it
	for _, sub := range c.Commands() {
		setVersionTree(sub, name)
	}
}
