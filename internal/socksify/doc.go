// Package socksify sends the TCP connections of a program that knows
// nothing of SOCKS through the servers socks.conf names, using the client
// package for every decision and handshake.
//
// Router decides a destination (direct, refused, or through a chain) and
// connects a socket that already exists — the program's own — through the
// chain, doing every handshake on that socket. Because the program keeps
// its descriptor, every option it set and every poll or epoll set it added
// the descriptor to stay valid.
//
// Run is `socks run`: on Linux it starts the program under a seccomp
// filter that hands each connect(2) to this process (user notification,
// Linux 5.9 or later for pidfd_getfd). The supervisor reads the address
// from the program's memory, takes a duplicate of its socket with
// pidfd_getfd, connects it through the chain and answers the call. That
// reaches statically linked programs too, which an LD_PRELOAD wrapper
// cannot. It is not a security boundary: a direct route lets the kernel
// run the program's own call, and a program can always avoid the filter's
// view (io_uring, a 32-bit syscall ABI).
package socksify
