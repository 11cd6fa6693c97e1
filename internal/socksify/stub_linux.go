package socksify

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// stubEnv marks the re-executed copy of this binary that installs the
// filter and becomes the program. The filter must be installed by the
// process that execs the program, and Go cannot run code between fork and
// exec, so Run starts its own binary again with this variable set.
const stubEnv = "SOCKSIFY_STUB_9d3f"

// stubFD is the descriptor of the socket to Run, where the stub sends the
// notification descriptor (or why it has none).
const stubFD = 3

// The stub runs from init, before main (or a test binary's TestMain), so
// that every binary that can reach Run can also be its stub.
func init() {
	switch os.Getenv(stubEnv) {
	case "1":
		os.Exit(stub(os.Args[1:], false))
	case "bind":
		os.Exit(stub(os.Args[1:], true))
	}
}

// stub: args are the program's path, then its argv. It execs the program
// under the filter, or reports and returns 127.
func stub(args []string, bind bool) int {
	runtime.LockOSThread() // the filter is per thread: this one execs
	report := func(msg string) int {
		unix.Sendmsg(stubFD, []byte("E"+msg), nil, nil, 0)
		unix.Close(stubFD)
		return 127
	}
	if len(args) < 2 {
		return report("stub: no program")
	}
	lfd, err := installFilter(bind)
	if err != nil {
		return report(err.Error())
	}
	if err := unix.Sendmsg(stubFD, []byte("K"), unix.UnixRights(lfd), nil, 0); err != nil {
		fmt.Fprintf(os.Stderr, "socks run: sending the notification descriptor: %v\n", err)
		return 127
	}
	unix.Close(lfd)
	unix.Close(stubFD)
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, stubEnv+"=") {
			env = append(env, kv)
		}
	}
	err = syscall.Exec(args[0], args[1:], env)
	fmt.Fprintf(os.Stderr, "socks run: %s: %v\n", args[0], err)
	if err == syscall.EACCES || err == syscall.ENOEXEC {
		return 126
	}
	return 127
}
