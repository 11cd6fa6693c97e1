// Package srelay is the srelay personality of the daemon: its command line
// (getopt "a:bc:fghi:m:o:p:rstu:v?") translated into the daemon's own
// flags before cobra parses them, its default files and port, and the
// rules it serves with, since srelay has no rule file. One pipeline then
// serves the names sockd, rsockd and srelay.
//
// srelay.conf itself (the next hops) is parsed by grammar (grammar/srelay.go)
// and loaded by internal/load; the access controls srelay relies on are
// internal/hostsaccess (tcp_wrappers) and internal/sysauth (host accounts);
// the daemon's flags are internal/cli's.
package srelay
