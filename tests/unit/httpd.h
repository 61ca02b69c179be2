/*
 * httpd.h - a tiny HTTP server for the unit tests: a forked child on
 * 127.0.0.1 (ephemeral port) answering each request with the canned
 * answer of its request target, until killed.
 */
#ifndef AE_TEST_HTTPD_H
#define AE_TEST_HTTPD_H

#include <stddef.h>
#include <sys/types.h>

typedef enum {
	SERVE_CLOSE, /* answer, then close */
	SERVE_KEEP,  /* answer, keep the connection open */
	SERVE_HANG,  /* accept, read the request, never answer */
} serve_mode;

typedef struct {
	const char *target;   /* request target as sent: "/x.crl", or "http://h/x" through a proxy; NULL: any */
	const char *answer;   /* the whole answer, head and body */
	size_t len;           /* of ANSWER */
} httpd_route;

/* Serves ROUTES (COUNT of them; the first match wins, 404 otherwise) in
 * MODE.  *PORT the port.  Returns the child's pid, or -1. */
pid_t httpd_start(const httpd_route *routes, size_t count, serve_mode mode, int *port);
void httpd_stop(pid_t pid);

/* "HTTP/1.0 200 OK" with Content-Length and BODY; caller frees. */
char *httpd_ok(const void *body, size_t len, size_t *answer_len);

/* How many file descriptors this process has open (leak checks). */
int count_open_fds(void);

/* A port on 127.0.0.1 where nobody listens. */
int httpd_refused_port(void);

#endif
