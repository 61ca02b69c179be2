/*
 * pinentry.c - the PIN dialog of interactive enrollment: runs pinentry
 * (fork and execve of a fixed path, no shell) and speaks Assuan with it
 * over a socket on its stdin and stdout (see pinentry.h).
 *
 * Everything pinentry sends is untrusted: lines are capped at Assuan's
 * 1000 bytes, %XX escapes are decoded strictly, the PIN has a cap, every
 * wait has a deadline and a timeout says which step it was, and the child
 * is reaped on every path.  The PIN passes through the read buffer and
 * the caller's buffer only, and messages never quote what pinentry sent
 * in data, so it cannot end up in a log.
 */
#include "config.h"

#include "pinentry.h"

#include "keystore.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

_Static_assert(__builtin_types_compatible_p(__typeof__(&ae_pinentry_prompt), ae_pin_prompt_fn),
               "ae_pinentry_prompt must be an ae_pin_prompt_fn");

/* Bytes of a line without its LF (Assuan's ASSUAN_LINELENGTH less CR LF). */
#define ASSUAN_LINE_MAX 1000
/* Status and comment lines tolerated before a command's OK or ERR. */
#define RESPONSE_LINES_MAX 100
#define DEFAULT_COMMAND_MS (10 * 1000)
#define DEFAULT_GETPIN_MS (300 * 1000)
/* Beyond pinentry's own SETTIMEOUT: it closes the dialog and answers
 * itself, which is better than being killed in the middle of drawing. */
#define GETPIN_GRACE_MS (5 * 1000)
/* How long an ending pinentry gets after EOF and after SIGTERM. */
#define REAP_GRACE_MS 1000

/* gpg-error codes, in the low 16 bits of an ERR code (the high bits name
 * the source, 5 for pinentry): "ERR 83886179 Operation cancelled". */
#define GPG_ERR_TIMEOUT 62
#define GPG_ERR_CANCELED 99
#define GPG_ERR_FULLY_CANCELED 198

static int command_ms = DEFAULT_COMMAND_MS;
static int getpin_ms = DEFAULT_GETPIN_MS;

void
ae_pinentry_set_timeouts(int cmd_ms, int pin_ms)
{
	command_ms = cmd_ms > 0 ? cmd_ms : DEFAULT_COMMAND_MS;
	getpin_ms = pin_ms > 0 ? pin_ms : DEFAULT_GETPIN_MS;
}

/* ---- the response parser ---- */

/* LINE starts with the word W, followed by a space or the end. */
static bool
starts_word(const char *line, size_t len, const char *w)
{
	size_t n = strlen(w);

	return len >= n && memcmp(line, w, n) == 0 && (len == n || line[n] == ' ');
}

static ae_err
append_data(ae_ctx *ctx, const char *s, size_t len, char *data, size_t data_size, size_t *data_len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '%') {
			int hi = len - i >= 3 ? ae_hex_digit(s[i + 1]) : -1;
			int lo = len - i >= 3 ? ae_hex_digit(s[i + 2]) : -1;

			if (hi < 0 || lo < 0)
				return ae_set_message(ctx, AE_ERR_INVALID, "a %% in data that is not a %%XX escape");
			ch = (unsigned char)(hi << 4 | lo);
			i += 2;
			/* The PIN is a C string. */
			if (ch == '\0')
				return ae_set_message(ctx, AE_ERR_INVALID, "a NUL byte (%%00) in data");
		} else if (ch == '\r') {
			return ae_set_message(ctx, AE_ERR_INVALID, "a raw CR in data (Assuan sends %%0D)");
		}
		if (data == NULL)
			continue;
		if (*data_len + 1 >= data_size)
			return ae_set_message(ctx, AE_ERR_INVALID, "more than %zu bytes of data",
			                      data_size > 0 ? data_size - 1 : 0);
		data[(*data_len)++] = (char)ch;
		data[*data_len] = '\0';
	}
	return AE_OK;
}

ae_err
ae_pinentry_parse_line(ae_ctx *ctx, const char *line, size_t len, ae_assuan_kind *kind_out,
                       unsigned long *code_out, char *data, size_t data_size, size_t *data_len)
{
	ae_return_val_if_fail(kind_out != NULL && code_out != NULL && data_len != NULL, AE_ERR_INTERNAL);
	*kind_out = AE_ASSUAN_SKIP;
	*code_out = 0;
	ae_return_val_if_fail(line != NULL || len == 0, AE_ERR_INTERNAL);

	if (len > ASSUAN_LINE_MAX)
		return ae_set_message(ctx, AE_ERR_INVALID, "a line of %zu bytes (Assuan allows %d)", len,
		                      ASSUAN_LINE_MAX);
	if (len > 0 && memchr(line, '\0', len) != NULL)
		return ae_set_message(ctx, AE_ERR_INVALID, "a line with a NUL byte");
	if (starts_word(line, len, "OK")) {
		*kind_out = AE_ASSUAN_OK;
		return AE_OK;
	}
	if (starts_word(line, len, "ERR")) {
		unsigned long code = 0;
		size_t i = 3, digits = 0;

		while (i < len && line[i] == ' ')
			i++;
		for (; i < len && line[i] >= '0' && line[i] <= '9'; i++, digits++) {
			unsigned d = (unsigned)(line[i] - '0');
			/* gpg-error codes are 32 bits. */
			if (code > (0xffffffffUL - d) / 10)
				return ae_set_message(ctx, AE_ERR_INVALID, "an ERR code beyond 32 bits");
			code = code * 10 + d;
		}
		if (digits == 0 || (i < len && line[i] != ' '))
			return ae_set_message(ctx, AE_ERR_INVALID, "an ERR line without a number");
		*kind_out = AE_ASSUAN_ERR;
		*code_out = code;
		return AE_OK;
	}
	if (starts_word(line, len, "S") || (len > 0 && line[0] == '#'))
		return AE_OK;
	if (starts_word(line, len, "D")) {
		ae_err err = len > 2 ? append_data(ctx, line + 2, len - 2, data, data_size, data_len) : AE_OK;
		if (err == AE_OK)
			*kind_out = AE_ASSUAN_DATA;
		return err;
	}
	if (starts_word(line, len, "INQUIRE"))
		return ae_set_message(ctx, AE_ERR_INVALID, "an INQUIRE, which autoenroll does not answer");
	return ae_set_message(ctx, AE_ERR_INVALID, "a line of %zu bytes that is no Assuan response", len);
}

/* ---- the conversation ---- */

typedef struct {
	ae_ctx *ctx;
	const char *program;
	const char *secret;  /* what is asked, for messages: the PIN of token "X", the password of U */
	const char *desc;    /* the dialog's text */
	const char *prompt;  /* "PIN:", "Password:" */
	int fd;
	pid_t pid;
	bool stuck;          /* timed out or spoke nonsense: SIGTERM, not EOF, ends it */
	bool reaped;
	int status;          /* waitpid status once reaped; -1 if someone else reaped it */
	char buf[ASSUAN_LINE_MAX + 1]; /* a whole line and its LF */
	size_t len;          /* bytes in buf */
	size_t consumed;     /* bytes of the line handed out last, dropped at the next read */
	char err_text[96];   /* printable text of the last ERR line */
} conv;

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Waits up to MS for the child; true once it is reaped (by us, or by
 * someone else: ECHILD). */
static bool
wait_child(conv *c, int ms)
{
	long long deadline = now_ms() + ms;
	int status;
	pid_t r;

	for (;;) {
		r = waitpid(c->pid, &status, ms < 0 ? 0 : WNOHANG);
		if (r == c->pid) {
			c->status = status;
			c->reaped = true;
			return true;
		}
		if (r < 0 && errno != EINTR) {
			c->status = -1;
			c->reaped = true;
			return true;
		}
		if (r == 0 && now_ms() >= deadline)
			return false;
		if (r == 0)
			sleep_ms(10);
	}
}

/* Ends the conversation and reaps the child.  POLITE: the conversation
 * is in step (BYE, cancel, an ERR), and pinentry exits on EOF; else it is
 * stuck or misbehaving and gets SIGTERM at once.  SIGKILL if that is not
 * enough either. */
static void
reap(conv *c, bool polite)
{
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	if (c->pid <= 0 || c->reaped)
		return;
	if (polite && wait_child(c, REAP_GRACE_MS))
		return;
	kill(c->pid, SIGTERM);
	if (wait_child(c, REAP_GRACE_MS))
		return;
	kill(c->pid, SIGKILL);
	wait_child(c, -1);
}

static void
describe_end(const conv *c, char *buf, size_t size)
{
	if (c->status == -1)
		snprintf(buf, size, "reaped elsewhere");
	else if (WIFEXITED(c->status) && WEXITSTATUS(c->status) == 127)
		snprintf(buf, size, "exit status 127: it could not be started");
	else if (WIFEXITED(c->status))
		snprintf(buf, size, "exit status %d", WEXITSTATUS(c->status));
	else if (WIFSIGNALED(c->status))
		snprintf(buf, size, "killed by signal %d", WTERMSIG(c->status));
	else
		snprintf(buf, size, "status 0x%x", (unsigned)c->status);
}

static ae_err
timed_out(conv *c, const char *what, int ms)
{
	char t[32];

	c->stuck = true;
	if (ms % 1000 == 0)
		snprintf(t, sizeof(t), "%d s", ms / 1000);
	else
		snprintf(t, sizeof(t), "%.1f s", ms / 1000.0);
	if (strcmp(what, "GETPIN") == 0)
		return ae_set_message(c->ctx, AE_ERR_TIMEOUT,
		                      "nobody entered %s: pinentry %s did not answer "
		                      "GETPIN within %s", c->secret, c->program, t);
	return ae_set_message(c->ctx, AE_ERR_TIMEOUT, "pinentry %s did not answer %s within %s",
	                      c->program, what, t);
}

/* The next line into *LINE (inside c->buf, valid until the next call),
 * by DEADLINE. */
static ae_err
read_line(conv *c, const char *what, long long deadline, int timeout_ms, const char **line,
          size_t *len)
{
	char *nl;
	ssize_t n;
	int r;

	if (c->consumed > 0) {
		memmove(c->buf, c->buf + c->consumed, c->len - c->consumed);
		c->len -= c->consumed;
		explicit_bzero(c->buf + c->len, c->consumed);
		c->consumed = 0;
	}
	for (;;) {
		nl = memchr(c->buf, '\n', c->len);
		if (nl != NULL) {
			*line = c->buf;
			*len = (size_t)(nl - c->buf);
			c->consumed = *len + 1;
			return AE_OK;
		}
		if (c->len == sizeof(c->buf)) {
			c->stuck = true;
			return ae_set_message(c->ctx, AE_ERR_INVALID,
			                      "pinentry %s sent a bad answer to %s: a line longer than %d bytes",
			                      c->program, what, ASSUAN_LINE_MAX);
		}
		if (now_ms() >= deadline)
			return timed_out(c, what, timeout_ms);
		{
			struct pollfd p = { c->fd, POLLIN, 0 };
			long long left = deadline - now_ms();
			r = poll(&p, 1, left > 0 ? (int)left : 0);
		}
		if (r < 0 && errno != EINTR)
			return ae_set_message(c->ctx, AE_ERR_IO, "waiting for pinentry %s: %s", c->program,
			                      strerror(errno));
		if (r <= 0)
			continue;
		n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return ae_set_message(c->ctx, AE_ERR_IO, "reading from pinentry %s: %s", c->program,
			                      strerror(errno));
		if (n == 0) {
			char how[64];

			reap(c, true);
			describe_end(c, how, sizeof(how));
			return ae_set_message(c->ctx, AE_ERR_IO, "pinentry %s ended during %s (%s)",
			                      c->program, what, how);
		}
		c->len += (size_t)n;
	}
}

static ae_err
send_all(conv *c, const char *what, const char *s, size_t len, long long deadline, int timeout_ms)
{
	ssize_t n;

	while (len > 0) {
		struct pollfd p = { c->fd, POLLOUT, 0 };
		long long left = deadline - now_ms();

		if (left <= 0)
			return timed_out(c, what, timeout_ms);
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		/* A socket, so that a pinentry gone away is EPIPE, not SIGPIPE. */
		n = send(c->fd, s, len, MSG_NOSIGNAL);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return ae_set_message(c->ctx, AE_ERR_IO, "sending %s to pinentry %s: %s", what,
			                      c->program, strerror(errno));
		s += n;
		len -= (size_t)n;
	}
	return AE_OK;
}

/* Assuan's escaping of a command argument: %, CR and LF must be %XX; the
 * other control characters too, so that a token label cannot draw on the
 * terminal of a curses pinentry. */
static void
escape_arg(ae_buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '%' || ch < 0x20 || ch == 0x7f)
			ae_buf_printf(b, "%%%02X", ch);
		else
			ae_buf_append(b, s, 1);
	}
}

/* The text of an ERR line after its code, printable ASCII only. */
static void
keep_err_text(conv *c, const char *line, size_t len)
{
	size_t i = 3, o = 0;

	while (i < len && line[i] == ' ')
		i++;
	while (i < len && line[i] != ' ')
		i++;
	while (i < len && line[i] == ' ')
		i++;
	for (; i < len && o + 1 < sizeof(c->err_text); i++)
		c->err_text[o++] = line[i] >= 0x20 && line[i] < 0x7f ? line[i] : '?';
	c->err_text[o] = '\0';
}

/* Sends "CMD[ ARG]" (ARG escaped; CMD NULL: nothing, for the greeting) and
 * reads the answer up to OK or ERR within TIMEOUT_MS.  An ERR sets *REFUSED
 * and *CODE when REFUSED is given, else it is an error.  D lines go to
 * DATA when given, else they are an error too. */
static ae_err
transact(conv *c, const char *cmd, const char *arg, int timeout_ms, bool *refused,
         unsigned long *code, char *data, size_t data_size, size_t *data_len)
{
	const char *what = cmd != NULL ? cmd : "the greeting";
	long long deadline = now_ms() + timeout_ms;
	const char *line = NULL;
	size_t len = 0, dummy_len = 0;
	unsigned long c_code;
	ae_assuan_kind kind;
	ae_buf b;
	int lines;
	ae_err err;

	if (refused != NULL)
		*refused = false;
	if (data_len == NULL)
		data_len = &dummy_len;
	if (cmd != NULL) {
		ae_buf_init(&b);
		ae_buf_puts(&b, cmd);
		if (arg != NULL) {
			ae_buf_puts(&b, " ");
			escape_arg(&b, arg);
		}
		if (b.failed) {
			ae_buf_clear(&b);
			return ae_set_message(c->ctx, AE_ERR_NOMEM, "out of memory");
		}
		if (b.len > ASSUAN_LINE_MAX) {
			ae_buf_clear(&b);
			return ae_set_message(c->ctx, AE_ERR_INVALID,
			                      "%s for pinentry is longer than an Assuan line (%d bytes)", cmd,
			                      ASSUAN_LINE_MAX);
		}
		ae_buf_puts(&b, "\n");
		err = b.failed ? ae_set_message(c->ctx, AE_ERR_NOMEM, "out of memory")
		               : send_all(c, what, b.data, b.len, deadline, timeout_ms);
		ae_buf_clear(&b);
		if (err != AE_OK)
			return err;
	}
	for (lines = 0; lines < RESPONSE_LINES_MAX; lines++) {
		if ((err = read_line(c, what, deadline, timeout_ms, &line, &len)) != AE_OK)
			return err;
		err = ae_pinentry_parse_line(c->ctx, line, len, &kind, &c_code, data, data_size, data_len);
		if (err != AE_OK) {
			c->stuck = true;
			return ae_prefix_message(c->ctx, err, "pinentry %s sent a bad answer to %s", c->program,
			                         what);
		}
		switch (kind) {
		case AE_ASSUAN_OK:
			return AE_OK;
		case AE_ASSUAN_ERR:
			keep_err_text(c, line, len);
			if (refused != NULL) {
				*refused = true;
				*code = c_code;
				return AE_OK;
			}
			return ae_set_message(c->ctx, AE_ERR_INVALID, "pinentry %s refused %s: error %lu%s%s",
			                      c->program, what, c_code, c->err_text[0] ? ", " : "", c->err_text);
		case AE_ASSUAN_DATA:
			if (data == NULL) {
				c->stuck = true;
				return ae_set_message(c->ctx, AE_ERR_INVALID,
				                      "pinentry %s sent a bad answer to %s: data", c->program, what);
			}
			break;
		case AE_ASSUAN_SKIP:
			break;
		}
	}
	c->stuck = true;
	return ae_set_message(c->ctx, AE_ERR_INVALID,
	                      "pinentry %s sent a bad answer to %s: more than %d lines", c->program, what,
	                      RESPONSE_LINES_MAX);
}

/* An OPTION or other nicety: pinentries that do not know it say ERR, and
 * the dialog works without it. */
static ae_err
optional(conv *c, const char *cmd, const char *arg)
{
	unsigned long code = 0;
	bool refused = false;
	ae_err err = transact(c, cmd, arg, command_ms, &refused, &code, NULL, 0, NULL);

	if (err == AE_OK && refused)
		ae_log(c->ctx, AE_LOG_DEBUG, "pinentry %s does not take %s %s: error %lu", c->program, cmd,
		       arg != NULL ? arg : "", code);
	return err;
}

/* ---- starting pinentry ---- */

/* What pinentry sees of our environment: what its curses, GTK, Qt or
 * GNOME front end needs to reach the user, nothing that changes how it
 * loads (LD_*, GTK_MODULES). */
static const char *const env_keep[] = {
	"HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TERM",
	"DISPLAY", "XAUTHORITY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "XDG_SESSION_TYPE",
	"XDG_CURRENT_DESKTOP", "DBUS_SESSION_BUS_ADDRESS", "PINENTRY_USER_DATA", NULL,
};

static char **
make_env(void)
{
	char **env = NULL;
	size_t i;

	if (!ae_strv_append(&env, "PATH=/usr/local/bin:/usr/bin:/bin"))
		return NULL;
	for (i = 0; env_keep[i] != NULL; i++) {
		const char *v = secure_getenv(env_keep[i]);
		char *kv;

		if (v == NULL)
			continue;
		kv = ae_strdup_printf("%s=%s", env_keep[i], v);
		if (kv == NULL || !ae_strv_append(&env, kv)) {
			free(kv);
			ae_strv_free(env);
			return NULL;
		}
		free(kv);
	}
	return env;
}

/* In the child: SOCK on stdin and stdout, stderr kept (or /dev/null),
 * nothing else open, default signal mask, then the program.  Only
 * async-signal-safe calls. */
static void __attribute__((noreturn))
child(int sock, const char *program, char **env)
{
	char *const argv[] = { (char *)program, NULL };
	sigset_t none;
	int fd;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	/* Above 2 first, so that dup2 below always makes a new descriptor
	 * (without close-on-exec) even if SOCK is 0 or 1. */
	fd = fcntl(sock, F_DUPFD_CLOEXEC, 3);
	if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0)
		_exit(127);
	if (fcntl(2, F_GETFD) < 0 && open("/dev/null", O_WRONLY) != 2)
		_exit(127);
	closefrom(3);
	execve(program, argv, env);
	_exit(127);
}

/* ---- the prompt ---- */

static ae_err
converse(conv *c, const char *error, char *pin, size_t pin_size)
{
	static const char *const lc_ctype[] = { "LC_ALL", "LC_CTYPE", "LANG", NULL };
	static const char *const lc_messages[] = { "LC_ALL", "LC_MESSAGES", "LANG", NULL };
	static const int tty_fds[] = { 0, 2, 1 };
	char tty[256], *opt = NULL, secs[32];
	const char *v = NULL;
	unsigned long code = 0;
	bool refused = false;
	size_t pin_len = 0, i;
	int wait_ms = getpin_ms;
	ae_err err;

	if ((err = transact(c, NULL, NULL, command_ms, NULL, NULL, NULL, 0, NULL)) != AE_OK)
		goto cleanup;

	/* A curses pinentry draws on the terminal we were started from; its
	 * own stdin is our socket. */
	for (i = 0; i < sizeof(tty_fds) / sizeof(tty_fds[0]); i++) {
		if (isatty(tty_fds[i]) && ttyname_r(tty_fds[i], tty, sizeof(tty)) == 0)
			break;
	}
	if (i < sizeof(tty_fds) / sizeof(tty_fds[0])) {
		opt = ae_strdup_printf("ttyname=%s", tty);
		if (opt == NULL || (err = optional(c, "OPTION", opt)) != AE_OK)
			goto nomem_or_err;
		free(opt);
		opt = NULL;
		if ((v = secure_getenv("TERM")) != NULL && v[0] != '\0') {
			opt = ae_strdup_printf("ttytype=%s", v);
			if (opt == NULL || (err = optional(c, "OPTION", opt)) != AE_OK)
				goto nomem_or_err;
			free(opt);
			opt = NULL;
		}
	}
	for (i = 0; lc_ctype[i] != NULL; i++) {
		if ((v = secure_getenv(lc_ctype[i])) != NULL && v[0] != '\0')
			break;
	}
	if (lc_ctype[i] != NULL) {
		opt = ae_strdup_printf("lc-ctype=%s", v);
		if (opt == NULL || (err = optional(c, "OPTION", opt)) != AE_OK)
			goto nomem_or_err;
		free(opt);
		opt = NULL;
	}
	for (i = 0; lc_messages[i] != NULL; i++) {
		if ((v = secure_getenv(lc_messages[i])) != NULL && v[0] != '\0')
			break;
	}
	if (lc_messages[i] != NULL) {
		opt = ae_strdup_printf("lc-messages=%s", v);
		if (opt == NULL || (err = optional(c, "OPTION", opt)) != AE_OK)
			goto nomem_or_err;
		free(opt);
		opt = NULL;
	}

	if ((err = transact(c, "SETTITLE", "autoenroll", command_ms, NULL, NULL, NULL, 0, NULL)) != AE_OK ||
	    (err = transact(c, "SETDESC", c->desc, command_ms, NULL, NULL, NULL, 0, NULL)) != AE_OK ||
	    (err = transact(c, "SETPROMPT", c->prompt, command_ms, NULL, NULL, NULL, 0, NULL)) != AE_OK)
		goto cleanup;
	if (error != NULL &&
	    (err = transact(c, "SETERROR", error, command_ms, NULL, NULL, NULL, 0, NULL)) != AE_OK)
		goto cleanup;
	/* pinentry closes its dialog itself when told how long to wait;
	 * whole seconds only. */
	if (getpin_ms >= 1000) {
		snprintf(secs, sizeof(secs), "%d", getpin_ms / 1000);
		if ((err = optional(c, "SETTIMEOUT", secs)) != AE_OK)
			goto cleanup;
		wait_ms += GETPIN_GRACE_MS;
	}

	err = transact(c, "GETPIN", NULL, wait_ms, &refused, &code, pin, pin_size, &pin_len);
	if (err == AE_ERR_TIMEOUT) {
		/* Say the user's time, not ours with the grace. */
		err = timed_out(c, "GETPIN", getpin_ms);
		goto cleanup;
	}
	if (err != AE_OK)
		goto cleanup;
	if (refused) {
		switch (code & 0xffff) {
		case GPG_ERR_CANCELED:
		case GPG_ERR_FULLY_CANCELED:
			err = ae_set_message(c->ctx, AE_ERR_NEEDPIN, "the dialog asking for %s was cancelled",
			                     c->secret);
			break;
		case GPG_ERR_TIMEOUT:
			err = timed_out(c, "GETPIN", getpin_ms);
			break;
		default:
			err = ae_set_message(c->ctx, AE_ERR_IO,
			                     "pinentry %s could not ask for %s: error %lu%s%s",
			                     c->program, c->secret, code, c->err_text[0] ? ", " : "", c->err_text);
			break;
		}
		goto cleanup;
	}
	/* The PIN is ours: a pinentry that cannot say BYE does not matter. */
	if (transact(c, "BYE", NULL, command_ms, &refused, &code, NULL, 0, NULL) != AE_OK)
		ae_clear_message(c->ctx);
	goto cleanup;

nomem_or_err:
	if (err == AE_OK)
		err = ae_set_message(c->ctx, AE_ERR_NOMEM, "out of memory");
cleanup:
	free(opt);
	return err;
}

/* Asks PROGRAM for SECRET (named so in messages) with the dialog text DESC
 * and PROMPT: ae_pinentry_prompt's contract. */
static ae_err
ask(ae_ctx *ctx, const char *program, const char *secret, const char *desc, const char *prompt, const char *error,
    char *pin, size_t pin_size)
{
	struct sigaction dfl, old_chld;
	char **env = NULL;
	int sv[2] = { -1, -1 };
	conv c;
	ae_err err;

	pin[0] = '\0';
	memset(&c, 0, sizeof(c));
	c.ctx = ctx;
	c.program = program;
	c.secret = secret;
	c.desc = desc;
	c.prompt = prompt;
	c.fd = -1;
	c.pid = -1;

	if (program == NULL || program[0] != '/')
		return ae_set_message(ctx, AE_ERR_CONFIG,
		                      "pinentry = %s in [user] of autoenroll.conf is not an absolute path",
		                      program != NULL ? program : "(none)");
	if (access(program, X_OK) != 0)
		return ae_set_message(ctx, AE_ERR_CONFIG,
		                      "cannot run pinentry %s to ask for %s: %s "
		                      "(pinentry in [user] of autoenroll.conf)",
		                      program, secret, strerror(errno));
	env = make_env();
	if (env == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		err = ae_set_message(ctx, AE_ERR_IO, "socketpair for pinentry: %s", strerror(errno));
		goto cleanup;
	}

	/* A host that ignores SIGCHLD would have the child reaped behind our
	 * back; the disposition is back before we return. */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGCHLD, &dfl, &old_chld);
	c.pid = fork();
	if (c.pid == 0)
		child(sv[1], program, env);
	close(sv[1]);
	sv[1] = -1;
	if (c.pid < 0) {
		err = ae_set_message(ctx, AE_ERR_IO, "cannot start pinentry %s: fork: %s", program,
		                     strerror(errno));
		sigaction(SIGCHLD, &old_chld, NULL);
		goto cleanup;
	}
	c.fd = sv[0];
	sv[0] = -1;

	err = converse(&c, error, pin, pin_size);
	reap(&c, !c.stuck);
	sigaction(SIGCHLD, &old_chld, NULL);
	ae_log(ctx, AE_LOG_DEBUG, "pinentry %s for %s: %s", program, secret,
	       err == AE_OK ? "got a PIN" : ae_get_message(ctx));
cleanup:
	if (err != AE_OK)
		explicit_bzero(pin, pin_size);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	explicit_bzero(&c, sizeof(c));
	ae_strv_free(env);
	return err;
}

ae_err
ae_pinentry_prompt(ae_ctx *ctx, void *data, const char *token_label, const char *error, char *pin,
                   size_t pin_size)
{
	char *secret, *desc;
	ae_err err;

	ae_return_val_if_fail(pin != NULL && pin_size > 0 && token_label != NULL, AE_ERR_INTERNAL);
	secret = ae_strdup_printf("the PIN of token \"%s\"", token_label);
	desc = ae_strdup_printf("Certificate enrollment needs the PIN of your token \"%s\" for the keys "
	                        "of your certificates.\n\nThe PIN goes to the token only; it is not "
	                        "stored.", token_label);
	if (secret == NULL || desc == NULL)
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	else
		err = ask(ctx, data, secret, desc, "PIN:", error, pin, pin_size);
	free(secret);
	free(desc);
	return err;
}

/* The password, asked once per process: the CEP and then the CES of a run
 * ask for the same one.  Wiped at exit. */
static char cep_password[256];

static void
wipe_cep_password(void)
{
	explicit_bzero(cep_password, sizeof(cep_password));
}

ae_err
ae_pinentry_cep_password(ae_ctx *ctx, const ae_conf *conf, const char *user, char **out)
{
	char *secret = NULL, *desc = NULL;
	ae_err err = AE_OK;

	*out = NULL;
	if (cep_password[0] == '\0') {
		secret = ae_strdup_printf("the password of %s for the enrollment web services (cep_password = pinentry)",
		                          user);
		desc = ae_strdup_printf("Certificate enrollment through the enrollment web services (CEP/CES) "
		                        "needs the password of %s.\n\nIt goes to the server over TLS only; it is "
		                        "not stored.", user);
		if (secret == NULL || desc == NULL)
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		else if ((err = ask(ctx, conf->pinentry, secret, desc, "Password:", NULL, cep_password,
		                    sizeof(cep_password))) == AE_OK) {
			static bool registered;
			if (!registered)
				registered = atexit(wipe_cep_password) == 0;
			if (cep_password[0] == '\0')
				err = ae_set_message(ctx, AE_ERR_NEEDPIN, "no password was entered for %s", user);
		}
	}
	if (err == AE_OK && (*out = strdup(cep_password)) == NULL)
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	free(secret);
	free(desc);
	return err;
}
