// Package reactor is an epoll event loop for one goroutine: it watches
// descriptors and calls their handlers when they are ready, keeps the
// deadlines of what it serves in a heap and calls their owners when one
// passes, and runs functions that other goroutines queue for it.
//
// A Reactor is owned by one goroutine, the one that calls Run: Add,
// Modify, Remove, CloseFD, Schedule, Cancel and Stop are called there
// (from handlers, expirers or queued functions); only Do is for other
// goroutines. Every epoll_ctl error is returned to the caller, and the
// two a table of registrations can explain are answered on purpose: a
// descriptor added twice or removed unknown is ErrRegistered or
// ErrNotRegistered, a Remove the kernel has already done is done.
//
// Events carry a generation with the descriptor, so an event still
// pending for a descriptor that was closed and reused within one
// epoll_wait never reaches the new descriptor's handler. Many Do calls
// between two waits write the wake-up eventfd once. Epoll_wait sleeps
// until the nearest deadline, so a reactor serving thousands of idle
// connections wakes for the ones that time out, not to look at all of
// them.
//
// The package knows nothing of SOCKS, sessions or policy. Its user is the
// server's event-loop engine (internal/server, loop_linux.go and
// loopsession_linux.go), which accepts, reads handshakes and relays with
// raw system calls on top of it; the goroutine engine does not use it.
// The reactor needs epoll, so it exists on Linux only; elsewhere the
// package holds only its timer heap and the server runs every session on
// a goroutine.
package reactor
