// Package privdrop gives up root for good once a daemon has bound its
// privileged ports: it switches to a named user and its primary group and
// checks that root cannot be regained. The daemon (internal/daemon), its
// supervisor and socks identd (internal/cli) call it after binding.
package privdrop

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// To switches to name's user and primary group for good. Go
// applies setuid/setgid to every thread of the process (Linux, Go 1.16+).
func To(name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("--user: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("--user %s: %w", name, err)
	}
	if os.Geteuid() != 0 {
		if os.Geteuid() == uid {
			return nil // already that user: nothing to drop
		}
		return fmt.Errorf("--user %s: only root can change user (running as uid %d)", name, os.Geteuid())
	}
	if uid == 0 {
		return fmt.Errorf("--user %s: that is root; name an unprivileged user", name)
	}
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return fmt.Errorf("--user: setgroups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("--user: setgid: %w", err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("--user: setuid: %w", err)
	}
	// Make sure the drop cannot be undone.
	if syscall.Setuid(0) == nil {
		return errors.New("--user: still able to become root after dropping privileges")
	}
	return nil
}
