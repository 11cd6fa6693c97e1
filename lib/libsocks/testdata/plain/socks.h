/* For the libsockswrap tests: demo.c built as an unmodified program, the
 * R names mapped to the plain calls that the wrapper intercepts. */
#include <sys/types.h>
#include <sys/socket.h>
#include <poll.h>
#include <stdio.h>
#include <unistd.h>
#define Raccept accept
#define Rbind bind
#define Rclose close
#define Rconnect connect
#define Rgetpeername getpeername
#define Rgetsockname getsockname
#define Rgetsockopt getsockopt
#define Rlisten listen
#define Rpoll poll
#define Rread read
#define Rwrite write
