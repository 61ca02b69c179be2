/*
 * pcache.c - the policy cache file: a line format simple to parse
 * defensively.
 *
 *   autoenroll-policy-cache 1
 *   loaded <unix time>
 *   principal <name>
 *   aepolicy <number>
 *   template <name> <oid|-> <major> <minor> <decision> <renewal seconds> [<enrollment flags>]
 *   refused <name> <major> <minor> <ca> <hresult> <unix time>
 *   waits <name> <message>
 *
 * Fields are separated by one tab; names never contain tabs or newlines
 * (those are refused when writing).
 */
#include "config.h"

#include "pcache.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define PCACHE_MAGIC "autoenroll-policy-cache 1"
#define PCACHE_FILE "policy-cache"
#define PCACHE_MAX_SIZE (1024 * 1024)
#define PCACHE_MAX_TEMPLATES 4096
#define PCACHE_MAX_REFUSALS 4096

void
ae_pcache_free(ae_pcache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->count; i++) {
		free(c->templates[i].name);
		free(c->templates[i].oid);
	}
	free(c->templates);
	for (size_t i = 0; i < c->nrefusals; i++) {
		free(c->refusals[i].template_name);
		free(c->refusals[i].ca);
	}
	free(c->refusals);
	for (size_t i = 0; i < c->nwaits; i++) {
		free(c->waits[i].template_name);
		free(c->waits[i].message);
	}
	free(c->waits);
	free(c->principal);
	free(c);
}

static bool
clean_field(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

ae_err
ae_pcache_from_policy(ae_ctx *ctx, const ae_policy *p, uint32_t aepolicy, int64_t now, ae_pcache **out)
{
	ae_pcache *c;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->templates = calloc(p->item_count + 1, sizeof(*c->templates))) == NULL)
		goto oom;
	c->loaded = now;
	c->aepolicy = aepolicy;
	if (p->principal != NULL && (c->principal = strdup(p->principal)) == NULL)
		goto oom;
	for (size_t i = 0; i < p->item_count; i++) {
		const ae_policy_item *it = &p->items[i];
		ae_pcache_template *t = &c->templates[c->count];
		if (it->tpl == NULL || it->decision == AE_DECISION_SKIP || !clean_field(it->tpl->name) ||
		    (it->tpl->oid != NULL && !clean_field(it->tpl->oid)))
			continue;
		t->name = strdup(it->tpl->name);
		t->oid = it->tpl->oid ? strdup(it->tpl->oid) : NULL;
		if (t->name == NULL || (it->tpl->oid && t->oid == NULL)) {
			c->count++;
			goto oom;
		}
		t->major = it->tpl->major;
		t->minor = it->tpl->minor;
		t->decision = it->decision;
		t->renewal_seconds = it->tpl->has_renewal ? it->tpl->renewal_seconds : 0;
		t->enrollment_flags = it->tpl->enrollment_flags;
		c->count++;
	}
	*out = c;
	return AE_OK;
oom:
	ae_pcache_free(c);
	return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
}

bool
ae_pcache_lasting_refusal(uint32_t hr)
{
	switch (hr) {
	case 0x80094805u: /* CERTSRV_E_SMIME_REQUIRED */
	case 0x80094809u: /* CERTSRV_E_SIGNATURE_POLICY_REQUIRED */
	case 0x8009480Au: /* CERTSRV_E_SIGNATURE_COUNT */
	case 0x80094811u: /* CERTSRV_E_KEY_LENGTH */
	case 0x80094814u: /* CERTSRV_E_CERT_TYPE_OVERLAP */
	case 0x80094816u: /* CERTSRV_E_RENEWAL_BAD_PUBLIC_KEY */
	case 0x8009481Au: /* CERTSRV_E_KEY_ATTESTATION */
		return true;
	default:
		return false;
	}
}

const ae_pcache_refusal *
ae_pcache_find_refusal(const ae_pcache *c, const char *template_name, uint32_t major, uint32_t minor,
                       const char *ca, int64_t now)
{
	for (size_t i = 0; c != NULL && i < c->nrefusals; i++) {
		const ae_pcache_refusal *r = &c->refusals[i];
		if (strcasecmp(r->template_name, template_name) == 0 && r->major == major && r->minor == minor &&
		    (ca == NULL || strcasecmp(r->ca, ca) == 0) && r->at <= now && now - r->at < AE_PCACHE_REFUSAL_TTL)
			return r;
	}
	return NULL;
}

ae_err
ae_pcache_add_refusal(ae_ctx *ctx, ae_pcache *c, const char *template_name, uint32_t major, uint32_t minor,
                      const char *ca, uint32_t hr, int64_t at)
{
	ae_pcache_refusal *r = NULL, *grown;

	if (!clean_field(template_name) || !clean_field(ca))
		return AE_OK;
	for (size_t i = 0; i < c->nrefusals && r == NULL; i++)
		if (strcasecmp(c->refusals[i].template_name, template_name) == 0 &&
		    strcasecmp(c->refusals[i].ca, ca) == 0)
			r = &c->refusals[i];
	if (r == NULL) {
		if (c->nrefusals >= PCACHE_MAX_REFUSALS)
			return AE_OK;
		grown = realloc(c->refusals, (c->nrefusals + 1) * sizeof(*grown));
		if (grown == NULL)
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		c->refusals = grown;
		r = &c->refusals[c->nrefusals];
		memset(r, 0, sizeof(*r));
		r->template_name = strdup(template_name);
		r->ca = strdup(ca);
		c->nrefusals++;
		if (r->template_name == NULL || r->ca == NULL)
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	r->major = major;
	r->minor = minor;
	r->hresult = hr;
	r->at = at;
	return AE_OK;
}

ae_err
ae_pcache_add_wait(ae_ctx *ctx, ae_pcache *c, const char *template_name, const char *message)
{
	ae_pcache_wait *grown;

	if (!clean_field(template_name) || !clean_field(message) || ae_pcache_find_wait(c, template_name) != NULL ||
	    c->nwaits >= PCACHE_MAX_TEMPLATES)
		return AE_OK;
	grown = realloc(c->waits, (c->nwaits + 1) * sizeof(*grown));
	if (grown == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	c->waits = grown;
	grown[c->nwaits].template_name = strdup(template_name);
	grown[c->nwaits].message = strdup(message);
	c->nwaits++;
	if (grown[c->nwaits - 1].template_name == NULL || grown[c->nwaits - 1].message == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	return AE_OK;
}

const ae_pcache_wait *
ae_pcache_find_wait(const ae_pcache *c, const char *template_name)
{
	for (size_t i = 0; c != NULL && i < c->nwaits; i++)
		if (strcasecmp(c->waits[i].template_name, template_name) == 0)
			return &c->waits[i];
	return NULL;
}

char *
ae_pcache_format(const ae_pcache *c)
{
	ae_buf b;

	ae_buf_init(&b);
	ae_buf_printf(&b, PCACHE_MAGIC "\nloaded\t%lld\n", (long long)c->loaded);
	if (clean_field(c->principal))
		ae_buf_printf(&b, "principal\t%s\n", c->principal);
	ae_buf_printf(&b, "aepolicy\t%u\n", c->aepolicy);
	for (size_t i = 0; i < c->count; i++) {
		const ae_pcache_template *t = &c->templates[i];
		ae_buf_printf(&b, "template\t%s\t%s\t%u\t%u\t%s\t%lld\t%u\n", t->name, t->oid ? t->oid : "-", t->major,
		              t->minor, ae_decision_name(t->decision), (long long)t->renewal_seconds, t->enrollment_flags);
	}
	for (size_t i = 0; i < c->nrefusals; i++) {
		const ae_pcache_refusal *r = &c->refusals[i];
		ae_buf_printf(&b, "refused\t%s\t%u\t%u\t%s\t%u\t%lld\n", r->template_name, r->major, r->minor, r->ca,
		              r->hresult, (long long)r->at);
	}
	for (size_t i = 0; i < c->nwaits; i++)
		ae_buf_printf(&b, "waits\t%s\t%s\n", c->waits[i].template_name, c->waits[i].message);
	return ae_buf_steal(&b);
}

static bool
parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end = NULL;
	long long v;

	if (*s == '\0')
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool
parse_decision(const char *s, ae_decision *out)
{
	static const ae_decision all[] = { AE_DECISION_AUTOENROLL, AE_DECISION_SKIP, AE_DECISION_MANUAL_RENEW_ONLY };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(s, ae_decision_name(all[i])) == 0) {
			*out = all[i];
			return true;
		}
	return false;
}

/* Splits LINE at tabs into at most MAX fields; returns the count. */
static size_t
split_tabs(char *line, char **fields, size_t max)
{
	size_t n = 0;
	char *p = line;

	while (n < max) {
		char *tab = strchr(p, '\t');
		fields[n++] = p;
		if (tab == NULL)
			return n;
		*tab = '\0';
		p = tab + 1;
	}
	return n + 1; /* too many */
}

ae_err
ae_pcache_parse(ae_ctx *ctx, const char *text, size_t len, ae_pcache **out)
{
	ae_pcache *c = NULL;
	char *copy = NULL, *line, *next;
	unsigned lineno = 0;
	bool have_loaded = false;
	ae_err err = AE_OK;

	*out = NULL;
	if (len > PCACHE_MAX_SIZE || memchr(text, '\0', len) != NULL)
		return ae_set_message(ctx, AE_ERR_INVALID, "policy cache: not a text file of at most %d bytes",
		                      PCACHE_MAX_SIZE);
	if ((copy = malloc(len + 1)) == NULL || (c = calloc(1, sizeof(*c))) == NULL) {
		free(copy);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	for (line = copy; line != NULL && *line != '\0'; line = next) {
		char *f[8];
		size_t n;
		int64_t v;

		lineno++;
		next = strchr(line, '\n');
		if (next == NULL) {
			err = ae_set_message(ctx, AE_ERR_INVALID, "policy cache: line %u is not terminated", lineno);
			goto cleanup;
		}
		*next++ = '\0';
		if (lineno == 1) {
			if (strcmp(line, PCACHE_MAGIC) != 0) {
				err = ae_set_message(ctx, AE_ERR_INVALID, "policy cache: unknown format");
				goto cleanup;
			}
			continue;
		}
		n = split_tabs(line, f, 8);
		if (strcmp(f[0], "loaded") == 0 && n == 2 && parse_i64(f[1], 0, INT64_MAX / 2, &v)) {
			c->loaded = v;
			have_loaded = true;
		} else if (strcmp(f[0], "principal") == 0 && n == 2 && clean_field(f[1]) && c->principal == NULL) {
			if ((c->principal = strdup(f[1])) == NULL)
				goto oom;
		} else if (strcmp(f[0], "aepolicy") == 0 && n == 2 && parse_i64(f[1], 0, UINT32_MAX, &v)) {
			c->aepolicy = (uint32_t)v;
		} else if (strcmp(f[0], "template") == 0 && (n == 7 || n == 8)) {
			ae_pcache_template t = { 0 };
			int64_t major, minor, renewal, eflags = 0;
			ae_pcache_template *grown;
			if (!clean_field(f[1]) || !clean_field(f[2]) || !parse_i64(f[3], 0, UINT32_MAX, &major) ||
			    !parse_i64(f[4], 0, UINT32_MAX, &minor) || !parse_decision(f[5], &t.decision) ||
			    !parse_i64(f[6], 0, INT64_MAX / 4, &renewal) || (n == 8 && !parse_i64(f[7], 0, UINT32_MAX, &eflags)) ||
			    c->count >= PCACHE_MAX_TEMPLATES) {
				err = ae_set_message(ctx, AE_ERR_INVALID, "policy cache: bad template line %u", lineno);
				goto cleanup;
			}
			t.major = (uint32_t)major;
			t.minor = (uint32_t)minor;
			t.renewal_seconds = renewal;
			t.enrollment_flags = (uint32_t)eflags;
			grown = realloc(c->templates, (c->count + 1) * sizeof(*grown));
			if (grown == NULL)
				goto oom;
			c->templates = grown;
			t.name = strdup(f[1]);
			t.oid = strcmp(f[2], "-") == 0 ? NULL : strdup(f[2]);
			c->templates[c->count++] = t;
			if (t.name == NULL || (strcmp(f[2], "-") != 0 && t.oid == NULL))
				goto oom;
		} else if (strcmp(f[0], "refused") == 0 && n == 7) {
			int64_t major, minor, hr, at;
			if (!clean_field(f[1]) || !parse_i64(f[2], 0, UINT32_MAX, &major) ||
			    !parse_i64(f[3], 0, UINT32_MAX, &minor) || !clean_field(f[4]) ||
			    !parse_i64(f[5], 0, UINT32_MAX, &hr) || !parse_i64(f[6], 0, INT64_MAX / 2, &at) ||
			    c->nrefusals >= PCACHE_MAX_REFUSALS) {
				err = ae_set_message(ctx, AE_ERR_INVALID, "policy cache: bad refusal line %u", lineno);
				goto cleanup;
			}
			if ((err = ae_pcache_add_refusal(ctx, c, f[1], (uint32_t)major, (uint32_t)minor, f[4],
			                                 (uint32_t)hr, at)) != AE_OK)
				goto cleanup;
		} else if (strcmp(f[0], "waits") == 0 && n == 3) {
			if (!clean_field(f[1]) || !clean_field(f[2])) {
				err = ae_set_message(ctx, AE_ERR_INVALID, "policy cache: bad waits line %u", lineno);
				goto cleanup;
			}
			if ((err = ae_pcache_add_wait(ctx, c, f[1], f[2])) != AE_OK)
				goto cleanup;
		} else {
			err = ae_set_message(ctx, AE_ERR_INVALID, "policy cache: bad line %u", lineno);
			goto cleanup;
		}
	}
	if (lineno == 0 || !have_loaded) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "policy cache: incomplete");
		goto cleanup;
	}
	*out = c;
	c = NULL;
	goto cleanup;
oom:
	err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
cleanup:
	free(copy);
	ae_pcache_free(c);
	return err;
}

ae_err
ae_pcache_load(ae_ctx *ctx, const char *dir, ae_pcache **out)
{
	char path[4096];
	char *buf = NULL;
	ssize_t n;
	size_t len = 0;
	int fd;
	ae_err err;

	*out = NULL;
	snprintf(path, sizeof(path), "%s/" PCACHE_FILE, dir);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return ae_set_message(ctx, errno == ENOENT ? AE_ERR_NOTFOUND : AE_ERR_IO, "%s: %s", path,
		                      strerror(errno));
	buf = malloc(PCACHE_MAX_SIZE + 1);
	if (buf == NULL) {
		close(fd);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	while (len <= PCACHE_MAX_SIZE && (n = read(fd, buf + len, PCACHE_MAX_SIZE + 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	err = ae_pcache_parse(ctx, buf, len, out);
	free(buf);
	return err;
}

ae_err
ae_pcache_save(ae_ctx *ctx, const char *dir, const ae_pcache *c)
{
	char path[4096];
	char *text = ae_pcache_format(c);
	ae_err err;

	if (text == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	snprintf(path, sizeof(path), "%s/" PCACHE_FILE, dir);
	err = ae_write_file_atomic(ctx, path, text, strlen(text), 0600);
	free(text);
	return err;
}

void
ae_pcache_remove(const char *dir)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/" PCACHE_FILE, dir);
	unlink(path);
}
