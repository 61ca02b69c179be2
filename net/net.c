/*
 * net.c - bounded TCP (see net.h).
 */
#include "config.h"

#include "net.h"
#include "util.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int
ae_net_wait(int fd, short events, double deadline)
{
	for (;;) {
		struct pollfd pfd = { fd, events, 0 };
		double left = deadline - ae_monotonic_seconds();
		int ms, rc;

		if (left <= 0)
			return 0;
		ms = left > 1e6 ? 1000000000 : (int)(left * 1000) + 1;
		rc = poll(&pfd, 1, ms);
		if (rc > 0)
			return 1;
		if (rc == 0)
			continue; /* re-check the deadline */
		if (errno != EINTR)
			return -1;
	}
}

ae_net_status
ae_net_connect(const char *host, const char *port, int ai_flags, int timeout, bool shared, int *fd_out,
               int *sys_err)
{
	struct addrinfo hints, *res = NULL, *ai;
	double deadline = ae_monotonic_seconds() + timeout;
	int rc, fd = -1, last_errno = 0;
	bool timed_out = false;

	*fd_out = -1;
	*sys_err = 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = ai_flags;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		*sys_err = rc;
		return AE_NET_RESOLVE;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		int one = 1, soerr = 0, w;
		socklen_t sl = sizeof(soerr);

		if (!shared)
			deadline = ae_monotonic_seconds() + timeout;
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0) {
			last_errno = errno;
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno != EINPROGRESS) {
			last_errno = errno;
			close(fd);
			fd = -1;
			continue;
		}
		w = ae_net_wait(fd, POLLOUT, deadline);
		if (w > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
			break;
		if (w == 0)
			timed_out = true;
		else
			last_errno = w > 0 ? soerr : errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd >= 0) {
		*fd_out = fd;
		return AE_NET_OK;
	}
	if (timed_out && last_errno == 0)
		return AE_NET_TIMEOUT;
	*sys_err = last_errno != 0 ? last_errno : ETIMEDOUT;
	return AE_NET_ERROR;
}

ae_net_status
ae_net_send_all(int fd, const void *buf, size_t len, double deadline, int *sys_err)
{
	size_t done = 0;

	*sys_err = 0;
	while (done < len) {
		ssize_t n = send(fd, (const char *)buf + done, len - done, MSG_NOSIGNAL);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int w = ae_net_wait(fd, POLLOUT, deadline);
			if (w == 0)
				return AE_NET_TIMEOUT;
			if (w > 0)
				continue;
		}
		*sys_err = errno;
		return AE_NET_ERROR;
	}
	return AE_NET_OK;
}

ae_net_status
ae_net_recv_some(int fd, void *buf, size_t len, double deadline, size_t *got, int *sys_err)
{
	*got = 0;
	*sys_err = 0;
	for (;;) {
		ssize_t n = recv(fd, buf, len, 0);
		if (n > 0) {
			*got = (size_t)n;
			return AE_NET_OK;
		}
		if (n == 0)
			return AE_NET_CLOSED;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int w = ae_net_wait(fd, POLLIN, deadline);
			if (w == 0)
				return AE_NET_TIMEOUT;
			if (w > 0)
				continue;
		}
		*sys_err = errno;
		return AE_NET_ERROR;
	}
}
