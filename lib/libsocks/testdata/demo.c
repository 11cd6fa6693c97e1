/* demo MODE ...: the Courier API as a C program uses it.
 *   connect HOST PORT   blocking Rconnect, one HTTP request, the status line
 *   nonblock HOST PORT  non-blocking Rconnect: EINPROGRESS, poll, SO_ERROR
 *   bind                Rbind/Rlisten/Raccept: prints where the server listens,
 *                       relays one line from the peer, then shows that a
 *                       second Raccept finds nothing (EAGAIN)
 *   forkexec HOST PORT  Rconnect, fork and exec /bin/echo, Rconnect again */
#include <socks.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static struct sockaddr_in addr_of(const char *host, const char *port) {
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(atoi(port)) };
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", host); exit(2); }
	return sin;
}

static void print_peer(int fd) {
	struct sockaddr_in p; socklen_t l = sizeof p;
	char ip[INET_ADDRSTRLEN];
	if (Rgetpeername(fd, (struct sockaddr *)&p, &l) < 0) { perror("Rgetpeername"); exit(1); }
	printf("peer %s:%d\n", inet_ntop(AF_INET, &p.sin_addr, ip, sizeof ip), ntohs(p.sin_port));
}

static void http(int fd) {
	const char *req = "GET / HTTP/1.0\r\n\r\n";
	if (Rwrite(fd, req, strlen(req)) < 0) { perror("write"); exit(1); }
	char buf[512]; size_t got = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (Rpoll(&p, 1, 30000) != 1) break;
		ssize_t n = Rread(fd, buf + got, sizeof buf - 1 - got);
		if (n <= 0) break;
		got += n;
		if (got == sizeof buf - 1) break;
	}
	buf[got] = 0;
	char *body = strstr(buf, "\r\n\r\n");
	char *eol = strchr(buf, '\r');
	if (eol) *eol = 0;
	printf("%s\n", buf);
	if (body) printf("%s", body + 4);
}

static int do_connect(const char *host, const char *port) {
	struct sockaddr_in sin = addr_of(host, port);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (Rconnect(fd, (struct sockaddr *)&sin, sizeof sin) < 0) { perror("Rconnect"); exit(1); }
	print_peer(fd);
	http(fd);
	return Rclose(fd);
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 2) return 2;
	if (!strcmp(argv[1], "connect") && argc == 4) return do_connect(argv[2], argv[3]);
	if (!strcmp(argv[1], "nonblock") && argc == 4) {
		struct sockaddr_in sin = addr_of(argv[2], argv[3]);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		int rc = Rconnect(fd, (struct sockaddr *)&sin, sizeof sin);
		if (rc < 0 && errno != EINPROGRESS) { perror("Rconnect"); return 1; }
		printf("Rconnect: %s\n", rc == 0 ? "0" : "EINPROGRESS");
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		if (Rpoll(&p, 1, 30000) != 1) { fprintf(stderr, "not writable\n"); return 1; }
		int soerr = -1; socklen_t l = sizeof soerr;
		Rgetsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &l);
		printf("SO_ERROR %d\n", soerr);
		print_peer(fd);
		http(fd);
		return Rclose(fd);
	}
	if (!strcmp(argv[1], "bind")) {
		struct sockaddr_in any = { .sin_family = AF_INET };
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (Rbind(fd, (struct sockaddr *)&any, sizeof any) < 0) { perror("Rbind"); return 1; }
		if (Rlisten(fd, 5) < 0) { perror("Rlisten"); return 1; }
		struct sockaddr_in me; socklen_t l = sizeof me;
		char ip[INET_ADDRSTRLEN];
		if (Rgetsockname(fd, (struct sockaddr *)&me, &l) < 0) { perror("Rgetsockname"); return 1; }
		printf("listening %s %d\n", inet_ntop(AF_INET, &me.sin_addr, ip, sizeof ip), ntohs(me.sin_port));
		struct sockaddr_in from; l = sizeof from;
		int c = Raccept(fd, (struct sockaddr *)&from, &l);
		if (c < 0) { perror("Raccept"); return 1; }
		printf("accepted from %s\n", inet_ntop(AF_INET, &from.sin_addr, ip, sizeof ip));
		char buf[256]; ssize_t n = Rread(c, buf, sizeof buf - 1);
		if (n < 0) { perror("read"); return 1; }
		buf[n] = 0;
		printf("read %s", buf);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		int again = Raccept(fd, NULL, NULL);
		printf("second Raccept: %s\n", again < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? "EAGAIN" : "unexpected");
		Rclose(c);
		return Rclose(fd);
	}
	if (!strcmp(argv[1], "forkexec") && argc == 4) {
		do_connect(argv[2], argv[3]);
		pid_t pid = fork();
		if (pid == 0) {
			execl("/bin/echo", "echo", "child exec ok", (char *)NULL);
			_exit(127);
		}
		int st;
		waitpid(pid, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { fprintf(stderr, "child failed\n"); return 1; }
		return do_connect(argv[2], argv[3]);
	}
	return 2;
}
