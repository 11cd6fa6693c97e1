// Package metrics holds the daemon's Prometheus series (namespace sockd,
// served on --metrics-listen): sessions by protocol, command and outcome;
// refusals by deciding rule (sockd_refusals_total{rule="file:line"});
// per-line rule hits and shadow-mode agreement, read from the rules in
// force at scrape time; identd outcomes; handshake and connect latency;
// relayed bytes; upstream failures by reason; reloads, the files in force
// and PROXY protocol headers.
//
// The server calls one hook per event (Decided, Connected, Failed,
// RelayEnded, SessionEnded, Loaded, Reloaded, ProxyHeader) with plain
// values; a nil *Metrics records nothing, so metrics that are off cost one
// nil check per event. The series' names, labels and help texts are part
// of the interface (README, docs/change-rules.md).
//
// What this package does not do: it decides nothing and says nothing in
// the log. Why a request was refused is answered by policy's Decision (the
// deciding line, the identd outcome) and, line by line, by the trace of
// sockd simulate; the counts here only say how often. The per-line
// counters themselves are policy.Hits (logged on SIGUSR1 by the server),
// shadow mode's decisions are internal/shadow's, and the log lines are
// internal/logline's.
package metrics
