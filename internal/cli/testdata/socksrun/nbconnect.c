/* nbconnect HOST PORT: a non-blocking connect as event loops make it
 * (libuv, nginx): EINPROGRESS, poll for writable, SO_ERROR, getpeername
 * (printed: it names the destination, not the proxy);
 * then one HTTP request, and the status line on stdout. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 3) { fprintf(stderr, "usage: nbconnect HOST PORT\n"); return 2; }
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
	inet_pton(AF_INET, argv[1], &sin.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int rc = connect(fd, (struct sockaddr *)&sin, sizeof sin);
	if (rc < 0 && errno != EINPROGRESS) { perror("connect"); return 1; }
	printf("connect: %s\n", rc == 0 ? "0" : "EINPROGRESS");
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	if (poll(&p, 1, 30000) != 1) { fprintf(stderr, "poll: not writable\n"); return 1; }
	int soerr = -1; socklen_t l = sizeof soerr;
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &l);
	if (soerr != 0) { fprintf(stderr, "SO_ERROR: %s\n", strerror(soerr)); return 1; }
	struct sockaddr_in peer; l = sizeof peer;
	if (getpeername(fd, (struct sockaddr *)&peer, &l) < 0) { perror("getpeername"); return 1; }
	char ip[INET_ADDRSTRLEN];
	printf("peer %s:%d\n", inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip), ntohs(peer.sin_port));
	const char *req = "GET / HTTP/1.0\r\n\r\n";
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) { perror("write"); return 1; }
	char buf[256]; size_t got = 0;
	while (got < sizeof buf - 1) {
		struct pollfd r = { .fd = fd, .events = POLLIN };
		if (poll(&r, 1, 30000) != 1) break;
		ssize_t n = read(fd, buf + got, sizeof buf - 1 - got);
		if (n <= 0) break;
		got += n;
	}
	buf[got] = 0;
	char *nl = strchr(buf, '\r');
	if (nl) *nl = 0;
	printf("%s\n", buf);
	return 0;
}
