/* forks HOST PORT PROGRAM...: plain connects (under LD_PRELOAD) in the
 * parent, then in a child forked without exec, then a child that execs
 * PROGRAM (which inherits LD_PRELOAD). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int get(const char *who, const char *host, const char *port) {
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(atoi(port)) };
	inet_pton(AF_INET, host, &sin.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0) { perror(who); return 1; }
	const char *req = "GET / HTTP/1.0\r\n\r\n";
	if (write(fd, req, strlen(req)) < 0) { perror(who); return 1; }
	char buf[512]; ssize_t n, got = 0;
	while (got < (ssize_t)sizeof buf - 1 && (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0) got += n;
	buf[got] = 0;
	char *eol = strchr(buf, '\r');
	if (eol) *eol = 0;
	printf("%s: %s\n", who, buf);
	fflush(stdout);
	close(fd);
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 4) return 2;
	if (get("parent", argv[1], argv[2])) return 1;
	pid_t pid = fork();
	if (pid == 0) _exit(get("forked child", argv[1], argv[2]));
	int st;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) return 1;
	pid = fork();
	if (pid == 0) { execvp(argv[3], argv + 3); perror("exec"); _exit(127); }
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
