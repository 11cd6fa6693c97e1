/*
 * socks.h: the Courier Socks 5 client API, from the sockd toolchain's Go
 * client. Link with -lsocks (pkg-config --libs socks). See docs/libsocks.md.
 *
 * Rconnect, Rbind, Rlisten, Raccept, Rgetsockname, Rgetpeername and Rclose
 * are defined by the library; the other names of the API are mapped to the
 * plain calls, as Courier's own header does. Descriptors that are not IPv4
 * or IPv6 TCP sockets always go to the plain call.
 *
 * Define SOCKS_REMAP before including this header to send the plain names
 * (connect, bind, ...) to the R functions.
 */
#ifndef SOCKS_H
#define SOCKS_H

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/select.h>
#include <sys/uio.h>
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

int Rconnect(int fd, const struct sockaddr *addr, socklen_t addrlen);
int Rbind(int fd, const struct sockaddr *addr, socklen_t addrlen);
int Rlisten(int fd, int backlog);
int Raccept(int fd, struct sockaddr *addr, socklen_t *addrlen);
int Rgetsockname(int fd, struct sockaddr *addr, socklen_t *addrlen);
int Rgetpeername(int fd, struct sockaddr *addr, socklen_t *addrlen);
int Rclose(int fd);

#ifdef __cplusplus
}
#endif

#define Rdup dup
#define Rdup2 dup2
#define Rfclose fclose
#define Rgetsockopt getsockopt
#define Rpoll poll
#define Rread read
#define Rreadv readv
#define Rrecv recv
#define Rrecvfrom recvfrom
#define Rrecvmsg recvmsg
#define Rselect select
#define Rsend send
#define Rsendmsg sendmsg
#define Rsendto sendto
#define Rwrite write
#define Rwritev writev

#ifdef SOCKS_REMAP
#define accept Raccept
#define bind Rbind
#define close Rclose
#define connect Rconnect
#define dup Rdup
#define dup2 Rdup2
#define fclose Rfclose
#define getpeername Rgetpeername
#define getsockname Rgetsockname
#define getsockopt Rgetsockopt
#define listen Rlisten
#define poll Rpoll
#define read Rread
#define readv Rreadv
#define recv Rrecv
#define recvfrom Rrecvfrom
#define recvmsg Rrecvmsg
#define select Rselect
#define send Rsend
#define sendmsg Rsendmsg
#define sendto Rsendto
#define write Rwrite
#define writev Rwritev
#endif

#endif /* SOCKS_H */
