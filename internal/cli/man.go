package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/sockd/sockd/internal/version"
)

// manDate is the date printed in the generated pages. It is fixed, not
// the build's date, so that regenerating the pages gives the same bytes
// and the sync test only fails when a command really changed.
var manDate = time.Date(2026, time.November, 21, 0, 0, 0, 0, time.UTC)

// ManTools are the commands with a section 8 page generated from their
// cobra tree (rsockd is sockd under another name and shares its page).
var ManTools = []string{"sockd", "make_sockdfc", "dump_sockdfc", "make_sockdfr", "dump_sockdfr", "make_socksfc", "dump_socksfc", "socks"}

// Command builds the cobra tree of one tool exactly as Main runs it, for
// documentation.
func Command(name string) (*cobra.Command, error) {
	cmd := newToolCmd(name)
	if cmd == nil || name == "srelay" { // srelay's page is sockd's
		return nil, fmt.Errorf("%s: unknown command name", name)
	}
	usageArgs(cmd)
	// sockd's completion command exists in the running program; document
	// it. The single-command tools have it too, but only when called.
	if cmd.HasSubCommands() {
		cmd.InitDefaultCompletionCmd()
	}
	setVersionTree(cmd, name)
	cmd.DisableAutoGenTag = true
	return cmd, nil
}

// GenerateMan writes the section 8 pages of every tool (and of sockd's
// subcommands: sockd-simulate.8, ...) into dir.
func GenerateMan(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range ManTools {
		cmd, err := Command(name)
		if err != nil {
			return err
		}
		cmd.DisableAutoGenTag = true
		hdr := &doc.GenManHeader{Section: "8", Date: &manDate, Source: "sockd " + version.Version, Manual: "sockd toolchain"}
		if err := doc.GenManTreeFromOpts(cmd, doc.GenManTreeOptions{Header: hdr, Path: dir, CommandSeparator: "-"}); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}
