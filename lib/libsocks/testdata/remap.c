/* remap HOST PORT: plain socket calls, sent to the R functions by
 * SOCKS_REMAP; a Unix socketpair on the way must be left alone. */
#define SOCKS_REMAP
#include <socks.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
	if (argc != 3) return 2;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || write(sv[0], "u", 1) != 1) { perror("socketpair"); return 1; }
	char u; if (read(sv[1], &u, 1) != 1) { perror("read"); return 1; }
	close(sv[0]); close(sv[1]);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
	inet_pton(AF_INET, argv[1], &sin.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0) { perror("connect"); return 1; }
	const char *req = "GET / HTTP/1.0\r\n\r\n";
	write(fd, req, strlen(req));
	char buf[512]; ssize_t n, got = 0;
	while ((n = read(fd, buf + got, sizeof buf - 1 - got)) > 0) got += n;
	buf[got] = 0;
	char *eol = strchr(buf, '\r');
	if (eol) *eol = 0;
	printf("%s\n", buf);
	return close(fd);
}
