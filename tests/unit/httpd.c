/*
 * httpd.c - see httpd.h.
 */
#include "config.h"

#include "httpd.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static const char not_found[] = "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n";

static void
write_all(int c, const char *data, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(c, data + done, len - done);
		if (n <= 0)
			break;
		done += (size_t)n;
	}
}

static void
serve_one(int c, const httpd_route *routes, size_t count, serve_mode mode)
{
	char req[8192], target[4096] = "";
	size_t got = 0;
	const httpd_route *r = NULL;

	/* The request first, so that closing does not reset the connection
	 * under unread bytes. */
	while (got < sizeof(req) - 1) {
		ssize_t n = read(c, req + got, sizeof(req) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		req[got] = '\0';
		/* Not HTTP (a TLS hello): answered at once, in HTTP. */
		if (strstr(req, "\r\n\r\n") != NULL || req[0] < 'A' || req[0] > 'Z')
			break;
	}
	req[got] = '\0';
	sscanf(req, "%*s %4095s", target);
	for (size_t i = 0; i < count && r == NULL; i++)
		if (routes[i].target == NULL || strcmp(routes[i].target, target) == 0)
			r = &routes[i];
	if (mode != SERVE_HANG) {
		if (r != NULL)
			write_all(c, r->answer, r->len);
		else
			write_all(c, not_found, sizeof(not_found) - 1);
	}
	if (mode == SERVE_CLOSE)
		close(c);
}

pid_t
httpd_start(const httpd_route *routes, size_t count, serve_mode mode, int *port)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t pid;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(ls, 16) != 0 ||
	    getsockname(ls, (struct sockaddr *)&sin, &sl) != 0) {
		fprintf(stderr, "# cannot listen on 127.0.0.1: %s\n", strerror(errno));
		if (ls >= 0)
			close(ls);
		return -1;
	}
	*port = ntohs(sin.sin_port);
	pid = fork();
	if (pid == 0) {
		alarm(60); /* never outlive a stuck test */
		for (;;) {
			int c = accept(ls, NULL, NULL);
			if (c < 0)
				_exit(1);
			serve_one(c, routes, count, mode);
		}
	}
	close(ls);
	return pid;
}

void
httpd_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

char *
httpd_ok(const void *body, size_t len, size_t *answer_len)
{
	char head[160];
	int n = snprintf(head, sizeof(head),
	                 "HTTP/1.0 200 OK\r\nContent-Type: application/pkix-crl\r\nContent-Length: %zu\r\n\r\n", len);
	char *out = malloc((size_t)n + len + 1);

	memcpy(out, head, (size_t)n);
	memcpy(out + n, body, len);
	out[(size_t)n + len] = '\0';
	*answer_len = (size_t)n + len;
	return out;
}

int
httpd_refused_port(void)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int s = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(s, (struct sockaddr *)&sin, sizeof(sin));
	getsockname(s, (struct sockaddr *)&sin, &sl);
	port = ntohs(sin.sin_port);
	close(s);
	return port;
}

int
count_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n++;
	closedir(d);
	return n;
}
