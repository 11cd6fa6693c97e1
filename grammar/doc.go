// Package grammar reads the three legacy text files of the SOCKS 4.3
// toolchain (sockd.conf, sockd.route and socks.conf) and compiles them into
// the config model, reporting every fault as a positioned diag.Diagnostic.
//
// Each file is read line by line, because every line of these formats stands
// alone: that keeps a 100,000-rule file linear and gives per-line error
// recovery for free. A line goes through three steps:
//
//  1. splitting: the line limit, comments, and the first ':' that starts the
//     shell command (4.3 stops at whichever of ':' or '#' comes first; a
//     field that is an IPv6 address or a server list keeps its colons);
//  2. parsing: the rule part is cut into blank-separated fields, and a
//     participle grammar (ast.go) gives the line its structure: which field
//     is the action, the source pair, the destination pair, the port test,
//     and what is left over;
//  3. checking: every field is validated and converted, stopping at the
//     first error of a line so that one mistake yields one diagnostic.
//
// The grammar accepts everything 4.3 accepted and rejects, with a hint, what
// 4.3 silently ignored or misread (a lone `eq`, a destination without its
// mask, `10.1.2` taken as a host name, an unknown ?= letter...).
package grammar
