package srelay

import "fmt"

const (
	openRules    = "permit 0.0.0.0 0.0.0.0\n"
	openName     = "<srelay: every client the access controls let in>"
	loopbackName = "<srelay: loopback clients only>"
	loopbackOnly = "permit 127.0.0.0/8 0.0.0.0 0.0.0.0\npermit ::1/128 0.0.0.0 0.0.0.0\ndeny 0.0.0.0 0.0.0.0\n"
)

// Rules are the daemon's rules when srelay runs without a sockd.conf, with
// the name its log and messages give them. srelay has no rule file: every
// client that tcp_wrappers and the authentication let in may go anywhere.
// With no access control at all (accessControlled false) that would be an
// open proxy on every address, so loopback clients only are served.
func Rules(accessControlled bool) (rules []byte, name string) {
	if accessControlled {
		return []byte(openRules), openName
	}
	return []byte(loopbackOnly), loopbackName
}

// LoopbackWarning says why only loopback clients are served and what to
// change, naming the hosts.allow and hosts.deny files in use.
func LoopbackWarning(allow, deny string) string {
	return fmt.Sprintf("srelay: no access control configured (no srelay rule in %s or %s, no -a p): serving loopback clients only; "+
		"to serve others, name them in %s (srelay: 192.0.2.0/24) and add `srelay: ALL` to %s, or require passwords with -a p",
		allow, deny, allow, deny)
}
