/*
 * store.c - records of certificates and requests, written crash-safely.
 */
#include "config.h"

#include "store.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/pem.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define AE_RECORD_MAX (64 * 1024)
#define AE_CERT_FILE_MAX (1024 * 1024)

struct ae_store {
	char *dir;
	char *records;  /* dir/records */
	char *certs;    /* dir/certs */
};

static const char *const state_names[] = {
	[AE_REC_NEW] = "new",
	[AE_REC_REQUESTED] = "requested",
	[AE_REC_PENDING] = "pending",
	[AE_REC_ISSUED] = "issued",
	[AE_REC_ARCHIVED] = "archived",
};

const char *
ae_rec_state_name(ae_rec_state s)
{
	return (unsigned)s <= AE_REC_ARCHIVED ? state_names[s] : "unknown";
}

const char *
ae_rec_store_name(ae_rec_state s)
{
	switch (s) {
	case AE_REC_ISSUED: return "MY";
	case AE_REC_ARCHIVED: return "ARCHIVED";
	default: return "REQUEST";
	}
}

char *
ae_store_default_dir(bool machine)
{
	const char *xdg, *home;
	char *out = NULL;

	if (machine)
		return strdup(AE_STATEDIR);
	xdg = secure_getenv("XDG_DATA_HOME");
	if (xdg != NULL && xdg[0] == '/') {
		if (asprintf(&out, "%s/autoenroll", xdg) < 0)
			out = NULL;
		return out;
	}
	home = secure_getenv("HOME");
	if (home == NULL || home[0] != '/') {
		struct passwd *pw = getpwuid(getuid());
		home = pw ? pw->pw_dir : NULL;
	}
	if (home == NULL)
		return NULL;
	if (asprintf(&out, "%s/.local/share/autoenroll", home) < 0)
		out = NULL;
	return out;
}

ae_record *
ae_record_new(void)
{
	return calloc(1, sizeof(ae_record));
}

void
ae_record_free(ae_record *r)
{
	if (r == NULL)
		return;
	free(r->id);
	free(r->template_name);
	free(r->template_oid);
	free(r->policy_server);
	free(r->policy_id);
	free(r->ca);
	free(r->ca_host);
	free(r->key_store);
	free(r->key_uri);
	free(r->renewal_of);
	free(r->scep_subject);
	free(r->scep_profile);
	X509_free(r->cert);
	free(r);
}

void
ae_records_free(ae_record **recs, size_t count)
{
	for (size_t i = 0; i < count; i++)
		ae_record_free(recs[i]);
	free(recs);
}

/* ---- record files: "key = value" lines ---- */

typedef enum { F_STR, F_U32, F_I64, F_STATE } field_type;
typedef struct {
	const char *key;
	field_type type;
	size_t offset;
} field_def;

#define F(k, t, m) { k, t, offsetof(ae_record, m) }
static const field_def fields[] = {
	F("id", F_STR, id),
	F("state", F_STATE, state),
	F("template", F_STR, template_name),
	F("template_oid", F_STR, template_oid),
	F("template_major", F_U32, major),
	F("template_minor", F_U32, minor),
	F("renewal_seconds", F_I64, renewal_seconds),
	F("policy_server", F_STR, policy_server),
	F("policy_id", F_STR, policy_id),
	F("ca", F_STR, ca),
	F("ca_host", F_STR, ca_host),
	F("request_id", F_U32, request_id),
	F("key_store", F_STR, key_store),
	F("key_uri", F_STR, key_uri),
	F("renewal_of", F_STR, renewal_of),
	F("scep_subject", F_STR, scep_subject),
	F("scep_profile", F_STR, scep_profile),
	F("created", F_I64, created),
	F("updated", F_I64, updated),
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static bool
valid_id(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

/* Whether a string field needs the escapes of record version 2. */
static bool
needs_escape(const char *v)
{
	return v != NULL && (strchr(v, '\\') != NULL || ae_has_control(v, strlen(v), NULL));
}

/* Version 1 records hold values as they are; version 2 escapes them
 * (ae_buf_escaped: "\\", "\n", "\r", "\t", "\xNN"), so that a value
 * from AD or a CA with a newline cannot add a line of its own and one with
 * a carriage return cannot make the record unreadable.  A record none of
 * whose values needs an escape is written as version 1, byte for byte as
 * before, so that older versions still read it. */
char *
ae_record_format(const ae_record *r)
{
	ae_buf b;
	bool v2 = false;

	for (size_t i = 0; i < NFIELDS; i++)
		if (fields[i].type == F_STR)
			v2 = v2 || needs_escape(*(char *const *)((const char *)r + fields[i].offset));
	ae_buf_init(&b);
	ae_buf_printf(&b, "# autoenroll record: written by autoenroll, do not edit\nversion = %d\n", v2 ? 2 : 1);
	for (size_t i = 0; i < NFIELDS; i++) {
		const char *base = (const char *)r + fields[i].offset;
		switch (fields[i].type) {
		case F_STR: {
			const char *v = *(char *const *)base;
			if (v != NULL) {
				ae_buf_printf(&b, "%s = ", fields[i].key);
				if (v2)
					ae_buf_escaped(&b, v);
				else
					ae_buf_puts(&b, v);
				ae_buf_puts(&b, "\n");
			}
			break;
		}
		case F_U32:
			ae_buf_printf(&b, "%s = %" PRIu32 "\n", fields[i].key, *(const uint32_t *)base);
			break;
		case F_I64:
			ae_buf_printf(&b, "%s = %" PRId64 "\n", fields[i].key, *(const int64_t *)base);
			break;
		case F_STATE:
			ae_buf_printf(&b, "%s = %s\n", fields[i].key, ae_rec_state_name(*(const ae_rec_state *)base));
			break;
		}
	}
	return ae_buf_steal(&b);
}

static ae_err
set_field(ae_ctx *ctx, ae_record *r, const field_def *f, const char *value, const char *name, unsigned line)
{
	char *base = (char *)r + f->offset;
	char *end = NULL;

	switch (f->type) {
	case F_STR: {
		char *copy = strdup(value);
		if (copy == NULL)
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		free(*(char **)base);
		*(char **)base = copy;
		return AE_OK;
	}
	case F_U32: {
		unsigned long long v;
		errno = 0;
		v = strtoull(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0' || value[0] == '-' || v > UINT32_MAX)
			return ae_set_message(ctx, AE_ERR_INVALID, "%s:%u: %s is not a 32-bit number: \"%s\"",
			                      name, line, f->key, value);
		*(uint32_t *)base = (uint32_t)v;
		return AE_OK;
	}
	case F_I64: {
		long long v;
		errno = 0;
		v = strtoll(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0')
			return ae_set_message(ctx, AE_ERR_INVALID, "%s:%u: %s is not a number: \"%s\"",
			                      name, line, f->key, value);
		*(int64_t *)base = v;
		return AE_OK;
	}
	case F_STATE:
		for (unsigned s = 0; s <= AE_REC_ARCHIVED; s++) {
			if (strcmp(value, state_names[s]) == 0) {
				*(ae_rec_state *)base = (ae_rec_state)s;
				return AE_OK;
			}
		}
		return ae_set_message(ctx, AE_ERR_INVALID, "%s:%u: unknown state \"%s\"", name, line, value);
	}
	return ae_set_message(ctx, AE_ERR_INTERNAL, "bad field type");
}

ae_err
ae_record_parse(ae_ctx *ctx, const char *text, size_t len, const char *name, ae_record **out)
{
	ae_record *r = NULL;
	char *copy = NULL, *line, *next;
	unsigned lineno = 0;
	bool have_state = false;
	int version = 0;
	ae_err err = AE_OK;

	*out = NULL;
	if (len > AE_RECORD_MAX)
		return ae_set_message(ctx, AE_ERR_INVALID, "%s: larger than %d bytes", name, AE_RECORD_MAX);
	if (memchr(text, '\0', len) != NULL)
		return ae_set_message(ctx, AE_ERR_INVALID, "%s: contains a NUL byte", name);
	r = ae_record_new();
	copy = malloc(len + 1);
	if (r == NULL || copy == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	for (line = copy; line != NULL; line = next) {
		char *eq, *key, *value, *e;
		const field_def *f = NULL;

		lineno++;
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		eq = strstr(line, " = ");
		if (eq == NULL) {
			err = ae_set_message(ctx, AE_ERR_INVALID, "%s:%u: expected \"key = value\"", name, lineno);
			goto cleanup;
		}
		*eq = '\0';
		key = line;
		value = eq + 3;
		for (e = value; *e; e++)
			if ((unsigned char)*e < 0x20) {
				err = ae_set_message(ctx, AE_ERR_INVALID, "%s:%u: control character in %s",
				                     name, lineno, key);
				goto cleanup;
			}
		if (strcmp(key, "version") == 0) {
			if (strcmp(value, "1") != 0 && strcmp(value, "2") != 0) {
				err = ae_set_message(ctx, AE_ERR_INVALID,
				                     "%s: record version %s is newer than this autoenroll (2)",
				                     name, value);
				goto cleanup;
			}
			version = value[0] - '0';
			continue;
		}
		for (size_t i = 0; i < NFIELDS; i++)
			if (strcmp(fields[i].key, key) == 0)
				f = &fields[i];
		if (f == NULL)
			continue; /* a later version's field: keep going */
		if (f->type == F_STATE)
			have_state = true;
		err = set_field(ctx, r, f, value, name, lineno);
		if (err != AE_OK)
			goto cleanup;
	}
	/* Escapes are undone once the version is known, wherever its line was. */
	for (size_t i = 0; version == 2 && i < NFIELDS; i++) {
		char *v = fields[i].type == F_STR ? *(char **)((char *)r + fields[i].offset) : NULL;
		if (v != NULL && !ae_unescape(v)) {
			err = ae_set_message(ctx, AE_ERR_INVALID, "%s: bad escape in %s", name, fields[i].key);
			goto cleanup;
		}
	}
	if (version == 0 || !have_state || r->id == NULL || !valid_id(r->id)) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "%s: not a complete record (version, id, state)", name);
		goto cleanup;
	}
	*out = r;
	r = NULL;
cleanup:
	free(copy);
	ae_record_free(r);
	return err;
}

/* ---- files ---- */

static ae_err
fsync_dir(ae_ctx *ctx, const char *path)
{
	char *dir = strdup(path), *slash;
	int fd;

	if (dir == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return ae_set_message(ctx, AE_ERR_IO, "cannot open the directory of %s: %s", path, strerror(errno));
	if (fsync(fd) != 0 && errno != EINVAL) {
		int e = errno;
		close(fd);
		return ae_set_message(ctx, AE_ERR_IO, "cannot flush the directory of %s: %s", path, strerror(e));
	}
	close(fd);
	return AE_OK;
}

/* Root writes only into directories that no one else controls: the
 * directory itself (not a symbolic link to elsewhere) belongs to this
 * user or root and is writable by no one else. */
static ae_err
check_write_dir(ae_ctx *ctx, int dfd, const char *dir, const char *path)
{
	struct stat st;

	if (fstat(dfd, &st) != 0)
		return ae_set_message(ctx, AE_ERR_IO, "cannot check the directory %s: %s", dir, strerror(errno));
	if (st.st_uid != geteuid() && st.st_uid != 0)
		return ae_set_message(ctx, AE_ERR_DENIED,
		                      "the directory %s belongs to uid %u, not to this user (uid %u): refusing to write %s "
		                      "there (chown %u %s)",
		                      dir, (unsigned)st.st_uid, (unsigned)geteuid(), path, (unsigned)geteuid(), dir);
	if (st.st_mode & 022)
		return ae_set_message(ctx, AE_ERR_DENIED,
		                      "the directory %s is writable by group or others (mode %04o): refusing to write %s "
		                      "there (chmod go-w %s)",
		                      dir, (unsigned)(st.st_mode & 07777), path, dir);
	return AE_OK;
}

ae_err
ae_write_file_atomic(ae_ctx *ctx, const char *path, const void *data, size_t len, mode_t mode)
{
	char *dir = NULL, *tmp = NULL, *slash;
	const char *base, *p = data;
	size_t done = 0;
	int dfd = -1, fd = -1;
	ae_err err;

	/* The directory is opened once, without following a link in its
	 * last component, and everything after is relative to it; the
	 * temporary name is new (O_EXCL, a random part) and never a link
	 * (O_NOFOLLOW): a planted file or link there is not written through. */
	if ((dir = strdup(path)) == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	slash = strrchr(dir, '/');
	if (slash == NULL) {
		base = path;
		strcpy(dir, ".");
	} else {
		base = path + (slash - dir) + 1;
		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		int e = errno;
		struct stat lst;
		bool link = e == ELOOP || (e == ENOTDIR && lstat(dir, &lst) == 0 && S_ISLNK(lst.st_mode));
		err = ae_set_message(ctx, AE_ERR_IO, "cannot open the directory %s to write %s: %s", dir, path,
		                     link ? "it is a symbolic link, not followed" : strerror(e));
		goto cleanup;
	}
	if ((err = check_write_dir(ctx, dfd, dir, path)) != AE_OK)
		goto cleanup;
	for (int tries = 0; fd < 0 && tries < 16; tries++) {
		uint32_t r = 0;
		const char *fixed = tries == 0 ? ae_test_env("TMP_RANDOM") : NULL; /* where tests plant a link */
		if (fixed != NULL)
			r = (uint32_t)strtoul(fixed, NULL, 16);
		else if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
			r = (uint32_t)rand();
		free(tmp);
		if (asprintf(&tmp, "%s.tmp.%ld.%08" PRIx32, base, (long)getpid(), r) < 0) {
			tmp = NULL;
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd < 0 && errno != EEXIST) {
			err = ae_set_message(ctx, AE_ERR_IO, "cannot create %s/%s: %s", dir, tmp, strerror(errno));
			ae_free_ptr(tmp);
			goto cleanup;
		}
	}
	if (fd < 0) {
		err = ae_set_message(ctx, AE_ERR_IO, "cannot create a new temporary file for %s: 16 names taken", path);
		ae_free_ptr(tmp);
		goto cleanup;
	}
	if (fchmod(fd, mode) != 0) {
		err = ae_set_message(ctx, AE_ERR_IO, "cannot set the mode of %s/%s: %s", dir, tmp, strerror(errno));
		goto cleanup;
	}
	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = ae_set_message(ctx, AE_ERR_IO, "cannot write %s/%s: %s", dir, tmp,
			                     n < 0 ? strerror(errno) : "short write");
			goto cleanup;
		}
		done += (size_t)n;
	}
	if (fsync(fd) != 0) {
		err = ae_set_message(ctx, AE_ERR_IO, "cannot flush %s/%s: %s", dir, tmp, strerror(errno));
		goto cleanup;
	}
	close(fd);
	fd = -1;
	ae_test_crash_point("store-before-rename");
	if (renameat(dfd, tmp, dfd, base) != 0) {
		err = ae_set_message(ctx, AE_ERR_IO, "cannot rename %s/%s to %s: %s", dir, tmp, path, strerror(errno));
		goto cleanup;
	}
	ae_free_ptr(tmp);
	if (fsync(dfd) != 0 && errno != EINVAL)
		err = ae_set_message(ctx, AE_ERR_IO, "cannot flush the directory of %s: %s", path, strerror(errno));
cleanup:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL)
		unlinkat(dfd, tmp, 0);
	if (dfd >= 0)
		close(dfd);
	free(tmp);
	free(dir);
	return err;
}

static ae_err
check_dir(ae_ctx *ctx, const char *dir, bool create)
{
	struct stat st;

	if (create && mkdir(dir, 0700) != 0 && errno != EEXIST)
		return ae_set_message(ctx, AE_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
	if (lstat(dir, &st) != 0)
		return ae_set_message(ctx, create ? AE_ERR_IO : AE_ERR_NOTFOUND, "cannot use %s: %s",
		                      dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return ae_set_message(ctx, AE_ERR_IO, "%s is not a directory", dir);
	if (st.st_uid != geteuid())
		return ae_set_message(ctx, AE_ERR_DENIED,
		                      "%s belongs to uid %u, not to this user (uid %u): refusing to keep certificates there",
		                      dir, (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & 022)
		return ae_set_message(ctx, AE_ERR_DENIED,
		                      "%s is writable by others (mode %03o): refusing to keep certificates there (chmod 700)",
		                      dir, (unsigned)(st.st_mode & 0777));
	return AE_OK;
}

/* mkdir -p for the parents of a state directory (e.g. ~/.local/share). */
static void
make_parents(const char *dir)
{
	char *copy = strdup(dir);
	for (char *p = copy ? copy + 1 : NULL; p != NULL && *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(copy, 0755);
			*p = '/';
		}
	}
	free(copy);
}

void
ae_store_free(ae_store *st)
{
	if (st == NULL)
		return;
	free(st->dir);
	free(st->records);
	free(st->certs);
	free(st);
}

const char *
ae_store_dir(const ae_store *st)
{
	return st->dir;
}

ae_err
ae_store_open(ae_ctx *ctx, const char *dir, bool create, ae_store **out)
{
	ae_store *st = NULL;
	ae_err err;

	*out = NULL;
	if (dir == NULL || dir[0] != '/')
		return ae_set_message(ctx, AE_ERR_CONFIG, "the state directory must be an absolute path, not \"%s\"",
		                      dir ? dir : "");
	st = calloc(1, sizeof(*st));
	if (st == NULL || (st->dir = strdup(dir)) == NULL ||
	    asprintf(&st->records, "%s/records", dir) < 0 || asprintf(&st->certs, "%s/certs", dir) < 0) {
		ae_store_free(st);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	if (create)
		make_parents(dir);
	if ((err = check_dir(ctx, st->dir, create)) != AE_OK ||
	    (err = check_dir(ctx, st->records, create)) != AE_OK ||
	    (err = check_dir(ctx, st->certs, create)) != AE_OK) {
		ae_store_free(st);
		return err;
	}
	/* Temporary files of writes killed before their rename (the old file
	 * is intact, so they are litter): the records, the certificates and
	 * the state directory's own files (last-pulse.json, the policy cache,
	 * oids: tests/bench/crash.sh found them left). */
	if (ae_remove_stale_tmp(st->dir) + ae_remove_stale_tmp(st->records) + ae_remove_stale_tmp(st->certs) > 0)
		ae_log(ctx, AE_LOG_INFO, "removed in %s what interrupted writes left", st->dir);
	*out = st;
	return AE_OK;
}

static char *
read_small_file(ae_ctx *ctx, const char *path, size_t max, size_t *len_out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	char *buf = NULL;
	size_t done = 0;

	*len_out = 0;
	if (fd < 0) {
		ae_set_message(ctx, AE_ERR_IO, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		ae_set_message(ctx, AE_ERR_INVALID, "%s is not a regular file of at most %zu bytes", path, max);
		close(fd);
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	while (buf != NULL && done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	close(fd);
	if (buf == NULL) {
		ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		return NULL;
	}
	buf[done] = '\0';
	*len_out = done;
	return buf;
}

static X509 *
load_cert(ae_ctx *ctx, const char *path)
{
	size_t len;
	char *pem = read_small_file(ctx, path, AE_CERT_FILE_MAX, &len);
	BIO *bio;
	X509 *x = NULL;

	if (pem == NULL)
		return NULL;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio != NULL)
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	free(pem);
	if (x == NULL)
		ae_set_message(ctx, AE_ERR_CRYPTO, "%s holds no PEM certificate", path);
	return x;
}

static int
rec_cmp(const void *a, const void *b)
{
	const ae_record *x = *(ae_record *const *)a, *y = *(ae_record *const *)b;
	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return strcmp(x->id, y->id);
}

ae_err
ae_store_load(ae_ctx *ctx, ae_store *st, ae_record ***recs_out, size_t *count_out)
{
	DIR *d;
	struct dirent *de;
	ae_record **recs = NULL;
	size_t n = 0, cap = 0;
	ae_err err = AE_OK;

	*recs_out = NULL;
	*count_out = 0;
	d = opendir(st->records);
	if (d == NULL)
		return ae_set_message(ctx, AE_ERR_IO, "cannot list %s: %s", st->records, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name), len;
		char *path = NULL, *text;
		ae_record *r = NULL;

		if (l < 5 || strcmp(de->d_name + l - 4, ".rec") != 0)
			continue;
		if (asprintf(&path, "%s/%s", st->records, de->d_name) < 0) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			break;
		}
		text = read_small_file(ctx, path, AE_RECORD_MAX, &len);
		if (text == NULL || ae_record_parse(ctx, text, len, path, &r) != AE_OK) {
			/* Left in place for the admin: nothing is deleted on a guess. */
			ae_log(ctx, AE_LOG_WARNING, "record skipped: %s", ae_get_message(ctx));
			free(text);
			free(path);
			continue;
		}
		free(text);
		if (strncmp(de->d_name, r->id, l - 4) != 0 || strlen(r->id) != l - 4) {
			ae_log(ctx, AE_LOG_WARNING, "record skipped: %s has id %s, which is not its file name", path, r->id);
			ae_record_free(r);
			free(path);
			continue;
		}
		free(path);
		if (r->state == AE_REC_ISSUED || r->state == AE_REC_ARCHIVED) {
			char *cp = NULL;
			if (asprintf(&cp, "%s/%s.pem", st->certs, r->id) >= 0) {
				r->cert = load_cert(ctx, cp);
				if (r->cert == NULL)
					ae_log(ctx, AE_LOG_WARNING, "%s", ae_get_message(ctx));
			}
			free(cp);
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			ae_record **nr = realloc(recs, nc * sizeof(*nr));
			if (nr == NULL) {
				ae_record_free(r);
				err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
				break;
			}
			recs = nr;
			cap = nc;
		}
		recs[n++] = r;
	}
	closedir(d);
	if (err != AE_OK) {
		ae_records_free(recs, n);
		return err;
	}
	ae_clear_message(ctx);
	if (n > 1)
		qsort(recs, n, sizeof(*recs), rec_cmp);
	*recs_out = recs;
	*count_out = n;
	return AE_OK;
}

ae_err
ae_store_save(ae_ctx *ctx, ae_store *st, ae_record *rec)
{
	char *path = NULL, *text;
	ae_err err;

	if (rec->id == NULL || !valid_id(rec->id))
		return ae_set_message(ctx, AE_ERR_INTERNAL, "record without a valid id");
	rec->updated = ae_now();
	if (rec->created == 0)
		rec->created = rec->updated;
	text = ae_record_format(rec);
	if (text == NULL || asprintf(&path, "%s/%s.rec", st->records, rec->id) < 0) {
		free(text);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	err = ae_write_file_atomic(ctx, path, text, strlen(text), 0600);
	free(text);
	free(path);
	return err;
}

ae_err
ae_store_save_cert(ae_ctx *ctx, ae_store *st, const char *id, X509 *cert, STACK_OF(X509) *chain)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *path = NULL, *data = NULL;
	long len;
	ae_err err;

	if (!valid_id(id) || bio == NULL) {
		BIO_free(bio);
		return ae_set_message(ctx, bio ? AE_ERR_INTERNAL : AE_ERR_NOMEM, "cannot store certificate %s", id);
	}
	PEM_write_bio_X509(bio, cert);
	for (int i = 0; chain != NULL && i < sk_X509_num(chain); i++)
		PEM_write_bio_X509(bio, sk_X509_value(chain, i));
	len = BIO_get_mem_data(bio, &data);
	if (len <= 0 || asprintf(&path, "%s/%s.pem", st->certs, id) < 0) {
		BIO_free(bio);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	err = ae_write_file_atomic(ctx, path, data, (size_t)len, 0644);
	BIO_free(bio);
	free(path);
	return err;
}

ae_err
ae_store_remove(ae_ctx *ctx, ae_store *st, const char *id)
{
	char *rec = NULL, *cert = NULL;
	ae_err err = AE_OK;

	if (!valid_id(id))
		return ae_set_message(ctx, AE_ERR_INTERNAL, "bad record id");
	if (asprintf(&rec, "%s/%s.rec", st->records, id) < 0 || asprintf(&cert, "%s/%s.pem", st->certs, id) < 0) {
		free(rec);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	/* Certificate first: a crash in between leaves a record whose
	 * certificate is gone, which the next run handles, never a stray
	 * certificate without a record. */
	if (unlink(cert) != 0 && errno != ENOENT)
		err = ae_set_message(ctx, AE_ERR_IO, "cannot remove %s: %s", cert, strerror(errno));
	else if (unlink(rec) != 0 && errno != ENOENT)
		err = ae_set_message(ctx, AE_ERR_IO, "cannot remove %s: %s", rec, strerror(errno));
	if (err == AE_OK)
		err = fsync_dir(ctx, rec);
	free(rec);
	free(cert);
	return err;
}

int64_t
ae_renewal_due(int64_t not_before, int64_t not_after, int64_t renewal)
{
	int64_t life = not_after - not_before;
	int64_t at80 = not_before + life / 10 * 8 + (life % 10) * 8 / 10;
	int64_t by_period = not_after - renewal;

	if (life <= 0)
		return not_before;
	/* "Whichever timeframe is smaller": the shorter time left before
	 * expiry, i.e. the later moment; a period over 20 % of the lifetime
	 * thus waits for the 80 % mark. */
	if (renewal <= 0)
		return at80;
	return by_period > at80 ? by_period : at80;
}

bool
ae_expiry_warning(int64_t not_before, int64_t not_after, int64_t now, int percent)
{
	if (percent <= 0 || not_after <= not_before || now >= not_after)
		return false;
	return (not_after - now) * 100 <= (int64_t)percent * (not_after - not_before);
}
