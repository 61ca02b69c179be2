/*
 * net.h - TCP with every step bounded by a deadline: the one copy of the
 * non-blocking connect, send and receive loops that the CA transport
 * (rpc.c) and the CRL download (crl.c) share.  Callers turn the status
 * into a message that names their setting.
 */
#ifndef AE_NET_H
#define AE_NET_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
	AE_NET_OK = 0,
	AE_NET_TIMEOUT,  /* the deadline passed */
	AE_NET_CLOSED,   /* the peer closed the connection (receiving) */
	AE_NET_ERROR,    /* *sys_err says why (an errno value) */
	AE_NET_RESOLVE,  /* the name did not resolve: *sys_err is a getaddrinfo code */
} ae_net_status;

/* Waits for EVENTS (POLLIN, POLLOUT) on FD until DEADLINE (monotonic
 * seconds): 1 ready, 0 timed out, -1 error (errno). */
int ae_net_wait(int fd, short events, double deadline);

/* Connects to HOST:PORT (numeric port), trying each address.  Each
 * address gets TIMEOUT seconds, or, with SHARED, all of them together.
 * AI_FLAGS go to getaddrinfo.  The socket is non-blocking, close-on-exec,
 * TCP_NODELAY.  A refusal on one address is reported over a timeout on
 * another: it says more. */
ae_net_status ae_net_connect(const char *host, const char *port, int ai_flags, int timeout, bool shared,
                             int *fd_out, int *sys_err);

/* Sends all LEN bytes before DEADLINE. */
ae_net_status ae_net_send_all(int fd, const void *buf, size_t len, double deadline, int *sys_err);

/* Receives what is there (at most LEN bytes, at least one) before
 * DEADLINE; *GOT the count. */
ae_net_status ae_net_recv_some(int fd, void *buf, size_t len, double deadline, size_t *got, int *sys_err);

#endif
