// Package daemon runs a server.Server as a process: where its log goes (a
// file reopened on SIGHUP, syslog, the journal, or standard error) and
// when it is flushed, the listeners (sockets the service manager passed,
// then --listen), the open file limit, the pid file, giving up root
// (--user), the metrics endpoint (served by internal/opsweb), the service
// manager's notifications (READY, STOPPING), the daemon's hooks in its
// one signal loop (internal/signals), and serving until a signal, then
// draining. With --workers it starts the supervisor.
//
// It parses no flags (internal/cli fills Ops from them), serves no
// session and decides no request (internal/server), and does not itself
// restart workers (internal/supervisor, which Supervise drives). "The
// worker died" is internal/supervisor's; "the daemon did not start" is
// usually here or in internal/server's New.
package daemon
