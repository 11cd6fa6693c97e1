// Package version names this build of the toolchain. The compiler string is
// recorded inside every frozen file, so it must not vary between two builds
// of the same source (no dates, no VCS dirt). DaemonText is the daemon's
// -ver description of the build; the --version flags of the commands are
// set in internal/cli.
package version

// Version is the toolchain's release.
const Version = "0.1.0"

// Compiler is what frozen files record as the program that wrote them.
const Compiler = "sockd-toolchain " + Version

// DaemonText is what "sockd -ver" prints: 4.3's build description, then
// what this build supports, for rsockd (socksified) or sockd, run
// stand-alone or under inetd: 4.3's -ver said both, and was built for one.
func DaemonText(socksified, inetd bool) string {
	head := "\tCSTC multi-homed SOCKS proxy server version 4.3 compatible (sockd " + Version + ").\n"
	if socksified {
		head = "\tCSTC multi-homed SOCKSified SOCKS proxy server version 4.3 compatible (rsockd, sockd " + Version + ").\n" +
			"\tReaches destinations directly or through other SOCKS servers, as socks.conf says\n" +
			"\t(--client-config, else /etc/socks.fc or /etc/socks.conf).\n"
	}
	mode := "\tRuns as a stand-alone daemon (under inetd with --inetd).\n"
	if inetd {
		mode = "\tRuns under inetd (--inetd): serves the connection on standard input.\n"
	}
	return head +
		"\tSupports SOCKS4, SOCKS4A and SOCKS5 (CONNECT, BIND, UDP ASSOCIATE; IPv4, IPv6 and host names).\n" +
		"\tSOCKS5 authentication: none, username/password (RFC 1929) against a bcrypt password file.\n" +
		"\tSupports RBIND: BIND listens on the interface sockd.route names for the destination.\n" +
		"\tUses the route file (sockd.fr or sockd.route, --route) to pick the interface of outgoing\n" +
		"\tconnections on multi-homed hosts; without a matching line the system chooses.\n" +
		"\tDoes not support clients that use Rrcmd().\n" + mode
}
