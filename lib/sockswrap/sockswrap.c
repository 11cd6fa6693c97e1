/*
 * libsockswrap: LD_PRELOAD this library (or link with -lsockswrap) to send
 * an unmodified program's TCP connects through the servers socks.conf
 * names, with the same Go code as `socks run` and libsocks.
 *
 * This file is plain C on purpose. A Go runtime loaded into the program
 * would not survive a fork without exec, and many programs fork (daemons,
 * servers, shells). So the decision and the handshakes are made by a
 * helper process, the `socks` binary ("socks wrap-helper"), started for
 * each connect with posix_spawn (safe in threaded programs and after fork).
 * The helper receives the program's own socket as its descriptor 3,
 * connects it through the chain, and answers on a pipe: DIRECT (the real
 * connect runs here), ERR errno, or OK with the address the server bound.
 * The program keeps its descriptor, its options and its poll sets.
 *
 * Environment: SOCKS_BIND=1 turns bind(port 0)+listen+accept into one
 * SOCKS BIND; SOCKS_WRAP_HELPER names the helper binary (default: the
 * socks installed beside this library, then socks on PATH); SOCKS_PROXY,
 * SOCKS_CONF, SOCKS_SERVER, SOCKS_CREDENTIALS as for libsocks.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SOCKS_HELPER
#define SOCKS_HELPER "socks"
#endif

extern char **environ;

static int (*real_connect)(int, const struct sockaddr *, socklen_t);
static int (*real_bind)(int, const struct sockaddr *, socklen_t);
static int (*real_listen)(int, int);
static int (*real_accept)(int, struct sockaddr *, socklen_t *);
static int (*real_accept4)(int, struct sockaddr *, socklen_t *, int);
static int (*real_getpeername)(int, struct sockaddr *, socklen_t *);
static int (*real_getsockname)(int, struct sockaddr *, socklen_t *);
static int (*real_close)(int);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int inert; /* inside the helper itself */
static int bind_enabled; /* SOCKS_BIND: make bind(port 0)+listen+accept a SOCKS BIND */

static void init(void) {
	real_connect = dlsym(RTLD_NEXT, "connect");
	real_bind = dlsym(RTLD_NEXT, "bind");
	real_listen = dlsym(RTLD_NEXT, "listen");
	real_accept = dlsym(RTLD_NEXT, "accept");
	real_accept4 = dlsym(RTLD_NEXT, "accept4");
	real_getpeername = dlsym(RTLD_NEXT, "getpeername");
	real_getsockname = dlsym(RTLD_NEXT, "getsockname");
	real_close = dlsym(RTLD_NEXT, "close");
	inert = getenv("SOCKS_WRAP_INNER") != NULL;
	const char *b = getenv("SOCKS_BIND");
	bind_enabled = b && *b && strcmp(b, "0") != 0;
}

/* What the wrapper knows of a descriptor it proxied: the destination
 * (getpeername), the server's bound address (getsockname), a BIND. */
enum { NONE, CONNECTED, BIND_PENDING, LISTENING, ACCEPTED_ONCE };
struct slot {
	int phase;
	ino_t ino; /* the socket's inode: a descriptor closed behind our back (fclose, dup2) is not ours */
	int v4; /* BIND through a SOCKS4 server: its second reply is 8 bytes */
	struct sockaddr_storage peer, bound, local;
	socklen_t peerlen, boundlen, locallen;
};
#define MAXFD 4096
static struct slot slots[MAXFD];

/* The destination of the last proxied connect: the peer a BIND expects,
 * as an FTP client's data connection comes from its control server. */
static char last_peer[INET6_ADDRSTRLEN] = "0.0.0.0";

static struct slot *slot(int fd) { return fd >= 0 && fd < MAXFD ? &slots[fd] : NULL; }

static ino_t inode(int fd) {
	struct stat st;
	return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

/* current is fd's slot if it still describes the same socket. */
static struct slot *current(int fd) {
	struct slot *s = slot(fd);
	if (!s || s->phase == NONE) return NULL;
	if (s->ino != inode(fd)) { s->phase = NONE; return NULL; }
	return s;
}

static int is_tcp(int fd) {
	int v; socklen_t l = sizeof v;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l) < 0 || v != SOCK_STREAM) return 0;
	l = sizeof v;
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) < 0 || (v != AF_INET && v != AF_INET6)) return 0;
	l = sizeof v;
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &l) < 0) return 0;
	return v == 0 || v == IPPROTO_TCP || v == 262; /* IPPROTO_MPTCP: TCP to a server that does not speak it */
}

/* addr_text writes the address and port of an AF_INET or AF_INET6
 * sockaddr; 0 for any other family. */
static int addr_text(const struct sockaddr *sa, socklen_t len, char *ip, size_t iplen, int *port) {
	if (sa == NULL) return 0;
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s = (const void *)sa;
		inet_ntop(AF_INET, &s->sin_addr, ip, iplen);
		*port = ntohs(s->sin_port);
		return 1;
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s = (const void *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr))
			inet_ntop(AF_INET, &s->sin6_addr.s6_addr[12], ip, iplen);
		else
			inet_ntop(AF_INET6, &s->sin6_addr, ip, iplen);
		*port = ntohs(s->sin6_port);
		return 1;
	}
	return 0;
}

/* 4.3's client reaches these directly whatever socks.conf says, and so
 * does every part of this toolchain; here it also spares a helper. */
static int always_direct(const char *ip) {
	return !strcmp(ip, "127.0.0.1") || !strcmp(ip, "0.0.0.0") || !strcmp(ip, "::1") || !strcmp(ip, "::");
}

static int loopback(const char *ip) { return !strncmp(ip, "127.", 4) || !strcmp(ip, "::1"); }

static const char *helper_path(void) {
	const char *h = getenv("SOCKS_WRAP_HELPER");
	if (h && *h) return h;
	static char beside[4096];
	Dl_info info;
	if (!beside[0] && dladdr((void *)init, &info) && info.dli_fname) {
		/* PREFIX/lib/libsockswrap.so -> PREFIX/bin/socks */
		char dir[4000];
		snprintf(dir, sizeof dir, "%s", info.dli_fname);
		char *slash = strrchr(dir, '/');
		if (slash) {
			*slash = 0;
			snprintf(beside, sizeof beside, "%s/../bin/socks", dir);
			if (access(beside, X_OK) != 0) beside[0] = 0;
		}
	}
	return beside[0] ? beside : SOCKS_HELPER;
}

/* env_without_preload is environ without LD_PRELOAD, with the marker
 * that makes this library inert in the helper; free it with free(). */
static char **env_without_preload(void) {
	size_t n = 0;
	while (environ && environ[n]) n++;
	char **env = calloc(n + 2, sizeof *env);
	if (!env) return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0) env[k++] = environ[i];
	env[k++] = "SOCKS_WRAP_INNER=1";
	env[k] = NULL;
	return env;
}

/* spawn_wait runs argv with the helper environment and stdio on
 * /dev/null, and waits for it. */
static int spawn_wait(const char *path, char **argv) {
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDWR, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_RDWR, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_RDWR, 0);
	char **env = env_without_preload();
	pid_t pid;
	int rc = env ? posix_spawnp(&pid, path, &fa, NULL, argv, env) : ENOMEM;
	posix_spawn_file_actions_destroy(&fa);
	free(env);
	if (rc != 0) return -1;
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void fnv(unsigned long long *h, const char *s) {
	for (; s && *s; s++) { *h ^= (unsigned char)*s; *h *= 1099511628211ULL; }
	*h ^= 0xff; *h *= 1099511628211ULL;
}

/* daemon_name names the helper daemon of this user and configuration:
 * a daemon started with other settings is another daemon. */
static void daemon_name(char *name, size_t len) {
	unsigned long long h = 14695981039346656037ULL;
	const char *vars[] = {"SOCKS_CONF", "SOCKS_PROXY", "SOCKS_SERVER", "SOCKS_CREDENTIALS", NULL};
	int relative = 0;
	fnv(&h, helper_path());
	for (int i = 0; vars[i]; i++) {
		const char *v = getenv(vars[i]);
		fnv(&h, v);
		if (v && *v && *v != '/' && i != 1 && i != 2) relative = 1;
	}
	char cwd[4096];
	if (relative && getcwd(cwd, sizeof cwd)) fnv(&h, cwd);
	snprintf(name, len, "sockswrap-%u-%016llx", (unsigned)getuid(), h);
}

static int dial_daemon(const char *name) {
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	size_t n = strlen(name);
	if (n + 1 > sizeof sun.sun_path) return -1;
	memcpy(sun.sun_path + 1, name, n); /* abstract: a leading NUL */
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0) return -1;
	if (real_connect(s, (struct sockaddr *)&sun, offsetof(struct sockaddr_un, sun_path) + 1 + n) < 0) { real_close(s); return -1; }
	struct ucred cred; socklen_t cl = sizeof cred;
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 || cred.uid != getuid()) {
		/* someone else holds the name: never hand them a socket */
		real_close(s);
		return -1;
	}
	return s;
}

/* ask_daemon asks the helper daemon, starting it when there is none;
 * -2 means no daemon can be had (the caller starts a helper itself). */
static int ask_daemon(int fd, const char *verb, const char *a1, const char *a2, char *out, size_t outlen) {
	static int no_daemon; /* serve refused (under a seccomp filter): not again */
	if (no_daemon || getenv("SOCKS_DEBUG") || getenv("SOCKS_WRAP_NO_DAEMON")) return -2; /* the helper's stderr is the program's */
	char name[100];
	daemon_name(name, sizeof name);
	int s = dial_daemon(name);
	if (s < 0) {
		char *argv[] = {(char *)helper_path(), "wrap-helper", "serve", name, "-", "-", NULL};
		if (spawn_wait(argv[0], argv) < 0) { no_daemon = 1; return -2; }
		s = dial_daemon(name); /* the listener is up once serve has returned */
		if (s < 0) return -2;
	}
	char req[128];
	int n = snprintf(req, sizeof req, "%s %s %s", verb, a1, a2);
	char cbuf[CMSG_SPACE(sizeof(int))];
	memset(cbuf, 0, sizeof cbuf);
	struct iovec iov = {.iov_base = req, .iov_len = n};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	ssize_t r;
	while ((r = sendmsg(s, &m, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	if (r < 0) { real_close(s); return -2; }
	while ((r = recv(s, out, outlen - 1, 0)) < 0 && errno == EINTR)
		;
	real_close(s);
	if (r <= 0) return -2;
	out[r] = 0;
	return 0;
}

/* ask gets the helper's one-line answer in out: from the daemon, else
 * from `socks wrap-helper VERB 3 ARGS...` run with fd as descriptor 3. */
static int ask(int fd, const char *verb, const char *a1, const char *a2, char *out, size_t outlen) {
	int d = ask_daemon(fd, verb, a1, a2, out, outlen);
	if (d != -2) return d;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) return -1;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd, 3);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	char **env = env_without_preload();
	if (!env) { real_close(p[0]); real_close(p[1]); posix_spawn_file_actions_destroy(&fa); errno = ENOMEM; return -1; }
	const char *h = helper_path();
	char *argv[] = {(char *)h, "wrap-helper", (char *)verb, "3", (char *)a1, (char *)a2, NULL};
	pid_t pid;
	int rc = posix_spawnp(&pid, h, &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	free(env);
	real_close(p[1]);
	if (rc != 0) {
		real_close(p[0]);
		fprintf(stderr, "libsockswrap: cannot start the helper %s: %s (set SOCKS_WRAP_HELPER)\n", h, strerror(rc));
		errno = ECONNREFUSED;
		return -1;
	}
	size_t got = 0;
	for (;;) {
		ssize_t r = read(p[0], out + got, outlen - 1 - got);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) break;
		got += r;
		if (got == outlen - 1) break;
	}
	out[got] = 0;
	real_close(p[0]);
	/* The program may reap children itself (a SIGCHLD handler): the
	 * answer came on the pipe, so ECHILD here is harmless. */
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return 0;
}

static void store_addr(struct sockaddr_storage *dst, socklen_t *dlen, int domain, const char *ip, int port) {
	memset(dst, 0, sizeof *dst);
	if (domain == AF_INET) {
		struct sockaddr_in *s = (void *)dst;
		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		if (inet_pton(AF_INET, ip, &s->sin_addr) == 1) { *dlen = sizeof *s; return; }
	} else {
		struct sockaddr_in6 *s = (void *)dst;
		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		if (inet_pton(AF_INET6, ip, &s->sin6_addr) == 1) { *dlen = sizeof *s; return; }
		struct in_addr a4;
		if (inet_pton(AF_INET, ip, &a4) == 1) {
			s->sin6_addr.s6_addr[10] = s->sin6_addr.s6_addr[11] = 0xff;
			memcpy(&s->sin6_addr.s6_addr[12], &a4, 4);
			*dlen = sizeof *s;
			return;
		}
	}
	*dlen = 0;
}

static int domain_of(int fd) {
	int v = AF_INET6; socklen_t l = sizeof v;
	getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l);
	return v;
}

static int nonblocking(int fd) { int fl = fcntl(fd, F_GETFL); return fl >= 0 && (fl & O_NONBLOCK); }

int connect(int fd, const struct sockaddr *sa, socklen_t len) {
	pthread_once(&once, init);
	char ip[INET6_ADDRSTRLEN]; int port;
	if (inert || !addr_text(sa, len, ip, sizeof ip, &port) || always_direct(ip) || !is_tcp(fd))
		return real_connect(fd, sa, len);
	struct slot *bs = current(fd);
	if (bs && bs->phase == BIND_PENDING) {
		/* bind before connect chose a source address: make it real */
		bs->phase = NONE;
		if (real_bind(fd, (struct sockaddr *)&bs->local, bs->locallen) < 0) return -1;
	}
	struct sockaddr_storage ss; socklen_t sl = sizeof ss;
	if (real_getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		return real_connect(fd, sa, len); /* EISCONN, from the kernel */
	char port_s[8], ans[256];
	snprintf(port_s, sizeof port_s, "%d", port);
	int saved = errno;
	if (ask(fd, "connect", ip, port_s, ans, sizeof ans) < 0) return -1;
	if (!strncmp(ans, "DIRECT", 6)) { errno = saved; return real_connect(fd, sa, len); }
	int e;
	if (sscanf(ans, "ERR %d", &e) == 1) { errno = e; return -1; }
	char bip[INET6_ADDRSTRLEN + 1]; int bport;
	if (sscanf(ans, "OK %46s %d", bip, &bport) != 2) {
		fprintf(stderr, "libsockswrap: the helper said %s\n", ans[0] ? ans : "nothing");
		errno = ECONNREFUSED;
		return -1;
	}
	snprintf(last_peer, sizeof last_peer, "%s", ip);
	struct slot *s = slot(fd);
	if (s) {
		memset(s, 0, sizeof *s);
		s->phase = CONNECTED;
		s->ino = inode(fd);
		memcpy(&s->peer, sa, len < sizeof s->peer ? len : sizeof s->peer);
		s->peerlen = len;
		store_addr(&s->bound, &s->boundlen, domain_of(fd), bip, bport);
	}
	/* Connected through the chain already: a non-blocking socket is told
	 * EINPROGRESS as usual and polls writable at once. */
	if (nonblocking(fd)) { errno = EINPROGRESS; return -1; }
	errno = saved;
	return 0;
}

static void give(const struct sockaddr_storage *src, socklen_t srclen, struct sockaddr *addr, socklen_t *len) {
	if (!addr || !len) return;
	memcpy(addr, src, srclen < *len ? srclen : *len);
	*len = srclen;
}

int getpeername(int fd, struct sockaddr *addr, socklen_t *len) {
	pthread_once(&once, init);
	struct slot *s = current(fd);
	if (s && s->phase == CONNECTED && s->peerlen && addr && len) {
		give(&s->peer, s->peerlen, addr, len);
		return 0;
	}
	return real_getpeername(fd, addr, len);
}

int getsockname(int fd, struct sockaddr *addr, socklen_t *len) {
	pthread_once(&once, init);
	struct slot *s = current(fd);
	if (s && (s->phase == CONNECTED || s->phase == LISTENING) && s->boundlen && addr && len) {
		give(&s->bound, s->boundlen, addr, len);
		return 0;
	}
	return real_getsockname(fd, addr, len);
}

int close(int fd) {
	pthread_once(&once, init);
	struct slot *s = slot(fd);
	if (s) s->phase = NONE;
	return real_close(fd);
}

/* With SOCKS_BIND set, a bind to an ephemeral port (0) on a non-loopback
 * address is what a client that wants one incoming connection does (FTP's
 * PORT): it becomes a SOCKS BIND at listen(2). A bind to a chosen port, or
 * to loopback, is a server's or a local one, and stays here. Off by
 * default: many servers listen on port 0 of every address too. */
int bind(int fd, const struct sockaddr *sa, socklen_t len) {
	pthread_once(&once, init);
	char ip[INET6_ADDRSTRLEN]; int port;
	struct slot *s = slot(fd);
	if (inert || !bind_enabled || !s || !addr_text(sa, len, ip, sizeof ip, &port) || port != 0 || loopback(ip) || !is_tcp(fd))
		return real_bind(fd, sa, len);
	memset(s, 0, sizeof *s);
	s->phase = BIND_PENDING;
	s->ino = inode(fd);
	memcpy(&s->local, sa, len < sizeof s->local ? len : sizeof s->local);
	s->locallen = len;
	return 0;
}

int listen(int fd, int backlog) {
	pthread_once(&once, init);
	struct slot *s = current(fd);
	if (inert || !s || s->phase != BIND_PENDING) return real_listen(fd, backlog);
	char ans[256];
	if (ask(fd, "bind", last_peer, "0", ans, sizeof ans) < 0) return -1;
	if (!strncmp(ans, "DIRECT", 6)) {
		s->phase = NONE;
		if (real_bind(fd, (struct sockaddr *)&s->local, s->locallen) < 0) return -1;
		return real_listen(fd, backlog);
	}
	int e;
	if (sscanf(ans, "ERR %d", &e) == 1) { errno = e; return -1; }
	char v[4], bip[INET6_ADDRSTRLEN + 1]; int bport;
	if (sscanf(ans, "BOUND %3s %46s %d", v, bip, &bport) != 3) {
		fprintf(stderr, "libsockswrap: the helper said %s\n", ans[0] ? ans : "nothing");
		errno = ECONNREFUSED;
		return -1;
	}
	s->phase = LISTENING;
	s->v4 = !strcmp(v, "v4");
	store_addr(&s->bound, &s->boundlen, domain_of(fd), bip, bport);
	return 0;
}

/* readn reads exactly n bytes, waiting in poll(2) on a non-blocking
 * socket once the reply has begun. */
static int readn(int fd, unsigned char *b, size_t n) {
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, b + got, n - got);
		if (r > 0) { got += r; continue; }
		if (r == 0) { errno = ECONNABORTED; return -1; }
		if (errno == EINTR) continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			struct pollfd p = {.fd = fd, .events = POLLIN};
			poll(&p, 1, 1000);
			continue;
		}
		return -1;
	}
	return 0;
}

/* second reads the server's second BIND reply: the peer that came. */
static int second(int fd, int v4, char *ip, size_t iplen, int *port) {
	unsigned char b[262];
	if (v4) {
		if (readn(fd, b, 8) < 0) return -1;
		if (b[1] != 90) { errno = ECONNREFUSED; return -1; }
		inet_ntop(AF_INET, b + 4, ip, iplen);
		*port = b[2] << 8 | b[3];
		return 0;
	}
	if (readn(fd, b, 4) < 0) return -1;
	if (b[0] != 5 || b[1] != 0) { errno = ECONNREFUSED; return -1; }
	switch (b[3]) {
	case 1:
		if (readn(fd, b + 4, 6) < 0) return -1;
		inet_ntop(AF_INET, b + 4, ip, iplen);
		*port = b[8] << 8 | b[9];
		return 0;
	case 4:
		if (readn(fd, b + 4, 18) < 0) return -1;
		inet_ntop(AF_INET6, b + 4, ip, iplen);
		*port = b[20] << 8 | b[21];
		return 0;
	case 3:
		if (readn(fd, b + 4, 1) < 0 || readn(fd, b + 5, b[4] + 2) < 0) return -1;
		snprintf(ip, iplen, "0.0.0.0"); /* a name: no address to give */
		*port = b[5 + b[4]] << 8 | b[6 + b[4]];
		return 0;
	}
	errno = EPROTO;
	return -1;
}

/* quiet replaces fd by a socket listening on a loopback port told to
 * nobody: SOCKS gives one connection per BIND, so a program that accepts
 * again waits as on a quiet listener. */
static int quiet(int fd, int domain) {
	int q = socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (q < 0) return -1;
	struct sockaddr_storage ss; socklen_t l;
	store_addr(&ss, &l, domain, domain == AF_INET ? "127.0.0.1" : "::1", 0);
	if (real_bind(q, (struct sockaddr *)&ss, l) < 0 || real_listen(q, 1) < 0) { real_close(q); return -1; }
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);
	if (fl >= 0 && (fl & O_NONBLOCK)) fcntl(q, F_SETFL, fcntl(q, F_GETFL) | O_NONBLOCK);
	int rc = dup3(q, fd, fdfl >= 0 && (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0);
	real_close(q);
	return rc < 0 ? -1 : 0;
}

static int accept_bind(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
	struct slot *s = slot(fd);
	if (nonblocking(fd)) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 0) == 0) { errno = EAGAIN; return -1; }
	}
	char ip[INET6_ADDRSTRLEN]; int port;
	if (second(fd, s->v4, ip, sizeof ip, &port) < 0) return -1;
	int nfd = fcntl(fd, (flags & SOCK_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
	if (nfd < 0) return -1;
	int domain = domain_of(fd);
	struct slot saved = *s;
	if (quiet(fd, domain) < 0) { int e = errno; real_close(nfd); errno = e; return -1; }
	s->phase = ACCEPTED_ONCE;
	if (flags & SOCK_NONBLOCK) fcntl(nfd, F_SETFL, fcntl(nfd, F_GETFL) | O_NONBLOCK);
	struct slot *n = slot(nfd);
	if (n) {
		memset(n, 0, sizeof *n);
		n->phase = CONNECTED;
		n->ino = inode(nfd);
		store_addr(&n->peer, &n->peerlen, domain, ip, port);
		n->bound = saved.bound;
		n->boundlen = saved.boundlen;
		give(&n->peer, n->peerlen, addr, len);
	} else if (addr && len) {
		struct sockaddr_storage ss; socklen_t l;
		store_addr(&ss, &l, domain, ip, port);
		give(&ss, l, addr, len);
	}
	return nfd;
}

int accept(int fd, struct sockaddr *addr, socklen_t *len) {
	pthread_once(&once, init);
	struct slot *s = current(fd);
	if (inert || !s || s->phase != LISTENING) return real_accept(fd, addr, len);
	return accept_bind(fd, addr, len, 0);
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
	pthread_once(&once, init);
	struct slot *s = current(fd);
	if (inert || !s || s->phase != LISTENING) return real_accept4(fd, addr, len, flags);
	return accept_bind(fd, addr, len, flags);
}
