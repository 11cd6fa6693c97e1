// Package simulate is the engine of `sockd simulate`: it decides a request
// given as flags (or a --batch line in the same syntax) with the daemon's
// own decision function, policy.Decide with a tracer, and words the
// decision for a person (a packet tracer's verdict, the lines tried, the
// identd step, the shell command) or as JSON Lines. With a client
// configuration it also plans the route a permitted request would take
// (client.Dialer.Plan), without asking DNS.
//
// It does not load files or parse the command line: internal/cli does,
// and maps a Result to an exit status. Why a rule matched or not is
// policy's (policy.Recorder); how a route is explained is client's. The
// quoting of its flag syntax (QuoteWords) is shared with the example
// requests of diff and replay (internal/report).
package simulate
