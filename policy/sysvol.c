/*
 * sysvol.c - Registry.pol from SYSVOL over SMB (libsmbclient), with a
 * cache keyed by the GPO's versionNumber.  See sysvol.h.
 */
#include "config.h"

#include "sysvol.h"

#include "store.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libsmbclient.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define GPTINI_MAX (64 * 1024)

struct ae_sysvol {
	SMBCCTX *smb;
	char *host;
	char *ccache;
	char *cache_dir;
	char *conf_path;
	char *setting;
	int timeout;
	char *old_ccname;   /* KRB5CCNAME before, restored at the end */
	bool had_ccname;
	ae_sysvol_stats stats;
};

static void
no_auth(SMBCCTX *c, const char *srv, const char *shr, char *wg, int wgl, char *un, int unl, char *pw, int pwl)
{
	/* Kerberos only: no name, no password, no NTLM */
	(void)c, (void)srv, (void)shr, (void)wg, (void)wgl, (void)un, (void)unl, (void)pw, (void)pwl;
}

ae_err
ae_sysvol_open(ae_ctx *ctx, const char *host, const char *ccache, const char *cache_dir, int timeout,
               const char *setting, ae_sysvol **out)
{
	ae_sysvol *sv;

	*out = NULL;
	if (mkdir(cache_dir, 0700) != 0 && errno != EEXIST)
		return ae_set_message(ctx, AE_ERR_IO, "cannot make %s: %s", cache_dir, strerror(errno));
	sv = calloc(1, sizeof(*sv));
	if (sv == NULL || (sv->host = strdup(host)) == NULL || (sv->ccache = strdup(ccache)) == NULL ||
	    (sv->cache_dir = strdup(cache_dir)) == NULL || (sv->setting = strdup(setting)) == NULL ||
	    (sv->conf_path = ae_strdup_printf("%s/smb.conf", cache_dir)) == NULL) {
		ae_sysvol_free(sv);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	sv->timeout = timeout;
	*out = sv;
	return AE_OK;
}

/* The SMB client, made at the first need: Kerberos from our FILE cache
 * (libsmbclient reads KRB5CCNAME), signing required, sealing when the
 * server offers it, SMB2 and later. */
static ae_err
connect_smb(ae_ctx *ctx, ae_sysvol *sv)
{
	static const char conf[] = "[global]\n"
	                           "\tclient signing = required\n"
	                           "\tclient ipc signing = required\n"
	                           "\tclient min protocol = SMB2_10\n"
	                           "\tclient use spnego = yes\n"
	                           "\tlog level = 0\n";
	const char *old = getenv("KRB5CCNAME");

	if (sv->smb != NULL)
		return AE_OK;
	if (ae_write_file_atomic(ctx, sv->conf_path, conf, sizeof(conf) - 1, 0600) != AE_OK)
		return ae_get_code(ctx);
	sv->had_ccname = old != NULL;
	if (old != NULL && (sv->old_ccname = strdup(old)) == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	/* libsmbclient takes the cache from the environment; the programs
	 * are single-threaded, and it is put back in ae_sysvol_free() */
	if (setenv("KRB5CCNAME", sv->ccache, 1) != 0)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	sv->smb = smbc_new_context();
	if (sv->smb == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "cannot make an SMB client");
	smbc_setConfiguration(sv->smb, sv->conf_path);
	smbc_setOptionUseKerberos(sv->smb, 1);
	smbc_setOptionFallbackAfterKerberos(sv->smb, 0);
	smbc_setOptionUseCCache(sv->smb, 1);
	smbc_setOptionNoAutoAnonymousLogin(sv->smb, 1);
	smbc_setOptionSmbEncryptionLevel(sv->smb, SMBC_ENCRYPTLEVEL_REQUEST);
	smbc_setTimeout(sv->smb, sv->timeout * 1000);
	smbc_setFunctionAuthDataWithContext(sv->smb, no_auth);
	if (smbc_init_context(sv->smb) == NULL) {
		smbc_free_context(sv->smb, 1);
		sv->smb = NULL;
		return ae_set_message(ctx, AE_ERR_NETWORK, "cannot start the SMB client: %s", strerror(errno));
	}
	sv->stats.smb_sessions++;
	return AE_OK;
}

/* smb://HOST/<share>/<dirs of gPCFileSysPath>/REL, or NULL when the path
 * is not \\server\share\... of plain names. */
static char *
smb_url(const ae_sysvol *sv, const char *unc, const char *rel)
{
	ae_buf b;
	const char *p = unc;
	bool first = true;

	if (strncmp(p, "\\\\", 2) != 0)
		return NULL;
	p += 2;
	p += strcspn(p, "\\"); /* the server part: we read from our DC */
	ae_buf_init(&b);
	ae_buf_printf(&b, "smb://%s", sv->host);
	while (*p == '\\') {
		size_t n;

		p++;
		n = strcspn(p, "\\");
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			goto bad;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)p[i] < 0x20 || p[i] == '/' || p[i] == '%' || p[i] == '?' || p[i] == '#')
				goto bad;
		ae_buf_printf(&b, "/%.*s", (int)n, p);
		p += n;
		first = false;
	}
	if (first || *p != '\0')
		goto bad;
	ae_buf_printf(&b, "/%s", rel);
	return ae_buf_steal(&b);
bad:
	ae_buf_clear(&b);
	return NULL;
}

/* Reads the file URL whole (at most MAX bytes): AE_ERR_NOTFOUND when it
 * is not there. */
static ae_err
smb_read(ae_ctx *ctx, ae_sysvol *sv, const char *url, size_t max, ae_buf *out)
{
	SMBCFILE *f;
	char chunk[65536];
	ssize_t n;
	ae_err err;

	if ((err = connect_smb(ctx, sv)) != AE_OK)
		return err;
	errno = 0;
	f = smbc_getFunctionOpen(sv->smb)(sv->smb, url, O_RDONLY, 0);
	if (f == NULL) {
		if (errno == ENOENT)
			return AE_ERR_NOTFOUND;
		return ae_set_message(ctx, errno == ETIMEDOUT ? AE_ERR_TIMEOUT : AE_ERR_NETWORK,
		                      "cannot read %s over SMB: %s%s%s%s", url, strerror(errno),
		                      errno == ETIMEDOUT ? " (" : "", errno == ETIMEDOUT ? sv->setting : "",
		                      errno == ETIMEDOUT ? ")" : "");
	}
	sv->stats.smb_files++;
	while ((n = smbc_getFunctionRead(sv->smb)(sv->smb, f, chunk, sizeof(chunk))) > 0) {
		if (out->len + (size_t)n > max) {
			smbc_getFunctionClose(sv->smb)(sv->smb, f);
			return ae_set_message(ctx, AE_ERR_INVALID, "%s: larger than %zu bytes", url, max);
		}
		ae_buf_append(out, chunk, (size_t)n);
	}
	smbc_getFunctionClose(sv->smb)(sv->smb, f);
	if (n < 0)
		return ae_set_message(ctx, AE_ERR_NETWORK, "reading %s over SMB: %s", url, strerror(errno));
	if (out->failed)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	return AE_OK;
}

/* A GUID as a name in the cache directory: "{hex and dashes}". */
static bool
guid_ok(const char *g)
{
	size_t n = g ? strlen(g) : 0;

	if (n < 3 || n > 40 || g[0] != '{' || g[n - 1] != '}')
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (!isxdigit((unsigned char)g[i]) && g[i] != '-')
			return false;
	return true;
}

ae_err
ae_sysvol_registry_pol(ae_ctx *ctx, ae_sysvol *sv, const ae_gpo_object *obj, bool machine, ae_regpol **pol,
                       ae_sysvol_source *source)
{
	const char *half = machine ? "machine" : "user";
	char *dir = NULL, *vfile = NULL, *polfile = NULL, *nonefile = NULL, *url = NULL, *cached_v = NULL;
	ae_buf gpt, data;
	uint32_t gpt_version = 0;
	double start = ae_monotonic_seconds();
	struct stat st;
	ae_err err;

	*pol = NULL;
	*source = AE_SYSVOL_SMB;
	ae_buf_init(&gpt);
	ae_buf_init(&data);
	if (!guid_ok(obj->guid) || obj->path == NULL)
		return ae_set_message(ctx, AE_ERR_INVALID, "GPO %s: its GUID or gPCFileSysPath is malformed", obj->name);
	dir = ae_strdup_printf("%s/%s", sv->cache_dir, obj->guid);
	vfile = ae_strdup_printf("%s/%s/version", sv->cache_dir, obj->guid);
	polfile = ae_strdup_printf("%s/%s/%s.pol", sv->cache_dir, obj->guid, half);
	nonefile = ae_strdup_printf("%s/%s/%s.none", sv->cache_dir, obj->guid, half);
	if (dir == NULL || vfile == NULL || polfile == NULL || nonefile == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto out;
	}
	cached_v = ae_read_file(vfile, 32, NULL);
	/* 1. the cached copy of the version AD has: no SMB at all */
	if (cached_v != NULL && strtoul(cached_v, NULL, 10) == obj->version &&
	    (stat(polfile, &st) == 0 || stat(nonefile, &st) == 0)) {
		*source = AE_SYSVOL_CACHE;
		sv->stats.cached++;
		goto from_cache;
	}
	/* 2. GPT.INI, then the file */
	url = smb_url(sv, obj->path, "GPT.INI");
	if (url == NULL) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "GPO %s: gPCFileSysPath \"%s\" is not \\\\server\\share\\...",
		                     obj->name, obj->path);
		goto out;
	}
	err = smb_read(ctx, sv, url, GPTINI_MAX, &gpt);
	if (err == AE_OK) {
		free(url);
		url = smb_url(sv, obj->path, machine ? "Machine/Registry.pol" : "User/Registry.pol");
		err = url ? smb_read(ctx, sv, url, AE_REGPOL_MAX_FILE, &data) : AE_ERR_NOMEM;
	}
	if (err != AE_OK && err != AE_ERR_NOTFOUND) {
		/* 3. SYSVOL unreachable: the last copy, if any */
		if (cached_v != NULL && (stat(polfile, &st) == 0 || stat(nonefile, &st) == 0)) {
			ae_log(ctx, AE_LOG_WARNING, "GPO %s: %s; using the copy of version %lu cached before", obj->name,
			       ae_get_message(ctx), strtoul(cached_v, NULL, 10));
			*source = AE_SYSVOL_STALE;
			goto from_cache;
		}
		ae_prefix_message(ctx, err, "GPO %s", obj->name);
		goto out;
	}
	if (err == AE_OK) {
		err = ae_regpol_parse(ctx, (const uint8_t *)data.data, data.len, pol);
		if (err != AE_OK) {
			ae_prefix_message(ctx, err, "GPO %s: %s", obj->name, url);
			goto out;
		}
	}
	/* cached when GPT.INI says the version AD says (else SYSVOL is still
	 * replicating: read again next time) */
	if (ae_gptini_version(gpt.data ? gpt.data : "", gpt.len, &gpt_version) && gpt_version == obj->version &&
	    (mkdir(dir, 0700) == 0 || errno == EEXIST)) {
		char v[16];

		unlink(vfile); /* the version last, once the file is there */
		unlink(*pol ? nonefile : polfile);
		/* a cache that cannot be written is only a cost: read again next time */
		if ((*pol ? ae_write_file_atomic(ctx, polfile, data.data, data.len, 0600)
		          : ae_write_file_atomic(ctx, nonefile, "", 0, 0600)) == AE_OK) {
			snprintf(v, sizeof(v), "%lu\n", (unsigned long)obj->version);
			(void)ae_write_file_atomic(ctx, vfile, v, strlen(v), 0600);
		}
		ae_clear_message(ctx);
	}
	err = AE_OK;
	goto out;
from_cache:
	if (stat(polfile, &st) == 0) {
		err = ae_regpol_load(ctx, polfile, pol);
		if (err != AE_OK)
			ae_prefix_message(ctx, err, "GPO %s (cached)", obj->name);
	} else {
		err = AE_OK;
	}
out:
	sv->stats.seconds += ae_monotonic_seconds() - start;
	ae_buf_clear(&gpt);
	ae_buf_clear(&data);
	free(dir);
	free(vfile);
	free(polfile);
	free(nonefile);
	free(url);
	free(cached_v);
	return err;
}

const ae_sysvol_stats *
ae_sysvol_get_stats(const ae_sysvol *sv)
{
	return &sv->stats;
}

void
ae_sysvol_free(ae_sysvol *sv)
{
	if (sv == NULL)
		return;
	if (sv->smb != NULL) {
		smbc_free_context(sv->smb, 1);
		if (sv->had_ccname)
			setenv("KRB5CCNAME", sv->old_ccname, 1);
		else
			unsetenv("KRB5CCNAME");
	}
	free(sv->old_ccname);
	free(sv->host);
	free(sv->ccache);
	free(sv->cache_dir);
	free(sv->conf_path);
	free(sv->setting);
	free(sv);
}
