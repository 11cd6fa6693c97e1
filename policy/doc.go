// Package policy decides SOCKS requests against a compiled sockd.conf, the
// way SOCKS 4.3's sockd did, and explains its decisions.
//
// One function, [Policy.Decide], serves both the daemon (tracer nil: an
// indexed lookup without allocations) and the simulator (a [Tracer] that
// records, for every line tried, the first condition that failed). [Lint]
// finds lines that can never decide, lines whose removal changes nothing,
// world-writable user files and a missing final deny. [Policy.PermitsAnyone]
// asks Decide whether the rules make an open proxy. [Expand] performs the
// %-substitutions of shell commands.
//
// # Semantics (spec §1.3–§1.6), and the choices made where 4.3 was silent
//
//   - Lines are tried in order; the first line whose source, destination,
//     user list and port all match decides. No match: deny (reply 91), the
//     invisible default.
//   - An address/mask pair matches when (cfg & mask) == (addr & mask); the
//     mask need not be contiguous and the configured address need not be
//     pre-masked. An all-zero mask matches every address of either family,
//     and also a destination known only by name. A non-zero mask never
//     matches an address of the other family, nor a destination known only
//     by name. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are unmapped
//     before matching, on both sides: a configured ::ffff:a.b.c.d whose mask
//     has its first 96 bits set is an IPv4 rule.
//   - Name patterns: "ALL" (exactly, as 4.3 compares it) matches anything,
//     even a request that carries only a name. "host.example" matches the
//     request's destination name or any forward-confirmed reverse name,
//     case-insensitively. ".example" matches "example" itself and every name
//     ending in ".example" (a name shorter than the zone never matches:
//     4.3 read before the start of such names). A trailing dot (the DNS
//     root, as Go's resolver returns names) is ignored on both sides; the
//     pattern "." is the root zone and matches every non-empty name.
//   - User lists match the claimed id (SOCKS4 USERID, SOCKS5 user name)
//     exactly and case-sensitively. Entries starting with "/" are files of
//     ids read once by [New]; an unreadable file is an error (4.3 silently
//     treated the list as not matching, which made deny lines fail open).
//   - identd is asked only after a permit line matched, and only when the
//     line's ?= (or, without one, the global [IdentMode]) asks for it; a
//     deny line never asks. Strict and unreachable: reply 92 and the
//     #NO_IDENTD: command. Lenient and unreachable: permitted, the
//     #NO_IDENTD: command runs and then the line's own command. identd names
//     another user: reply 93 and the #BAD_ID: command. identd answering
//     with an empty user counts as unreachable. 4.3's SUPPORT_RCMD exception
//     (root from a reserved port) is not reproduced.
//   - UDP ASSOCIATE (SOCKS5) is decided like a connect: the daemon asks for
//     every datagram destination with [CmdUDP], and %c expands to "udp".
//   - SOCKS5 replies: 0x00 when permitted, 0x02 (connection not allowed by
//     ruleset) for every refusal, including the identd ones.
package policy
