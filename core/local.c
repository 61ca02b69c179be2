/*
 * local.c - state directory, key store and crash recovery of a context.
 */
#include "config.h"

#include "local.h"
#include "util.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *
ae_spec_without_pin(const char *spec)
{
	ae_buf b;
	const char *p;

	if (strncmp(spec, "pkcs11:", 7) != 0)
		return strdup(spec);
	/* Attributes are separated by ';' (path) and '&' or '?' (query):
	 * copy every one but pin-value, with the separator after it. */
	ae_buf_init(&b);
	ae_buf_puts(&b, "pkcs11:");
	for (p = spec + 7; *p != '\0';) {
		size_t n = strcspn(p, ";&?");
		bool drop = strncmp(p, "pin-value=", 10) == 0;
		if (!drop)
			ae_buf_append(&b, p, n + (p[n] != '\0'));
		else if (p[n] == '?')
			ae_buf_puts(&b, "?"); /* keep the start of the query */
		p += n + (p[n] != '\0');
	}
	while (b.len > 7 && strchr(";&?", b.data[b.len - 1]) != NULL)
		b.data[--b.len] = '\0';
	return ae_buf_steal(&b);
}

void
ae_local_clear(ae_local *l)
{
	free(l->state_dir);
	free(l->store_spec);
	free(l->store_safe);
	memset(l, 0, sizeof(*l));
}

ae_err
ae_local_for_store(ae_ctx *ctx, const ae_local *base, const char *spec, ae_local *out)
{
	memset(out, 0, sizeof(*out));
	out->machine = base->machine;
	out->state_dir = strdup(base->state_dir);
	out->store_spec = strdup(spec);
	out->store_safe = ae_spec_without_pin(spec);
	if (out->state_dir == NULL || out->store_spec == NULL || out->store_safe == NULL) {
		ae_local_clear(out);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	return AE_OK;
}

ae_err
ae_local_init(ae_ctx *ctx, const ae_conf *conf, bool machine, ae_local *l)
{
	const char *dir = machine ? conf->machine_state_dir : conf->user_state_dir;
	const char *spec = machine ? conf->machine_store : conf->user_store;

	memset(l, 0, sizeof(*l));
	l->machine = machine;
	l->state_dir = dir ? strdup(dir) : ae_store_default_dir(machine);
	if (l->state_dir == NULL)
		return ae_set_message(ctx, AE_ERR_CONFIG,
		                      "no state directory for the user: set state_dir in [user] (HOME is unknown)");
	if (spec != NULL)
		l->store_spec = strdup(spec);
	else if (asprintf(&l->store_spec, "file:%s", l->state_dir) < 0)
		l->store_spec = NULL;
	if (l->store_spec == NULL || (l->store_safe = ae_spec_without_pin(l->store_spec)) == NULL) {
		ae_local_clear(l);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	return AE_OK;
}

ae_err
ae_local_recover(ae_ctx *ctx, ae_store *st, ae_keystore *ks, const ae_local *l, unsigned *removed)
{
	ae_record **recs = NULL;
	size_t n = 0;
	ae_err err;

	*removed = 0;
	err = ae_store_load(ctx, st, &recs, &n);
	if (err != AE_OK)
		return err;
	for (size_t i = 0; i < n; i++) {
		ae_record *r = recs[i];
		if (r->state != AE_REC_NEW)
			continue;
		/* The key is in the store the record names; a record from
		 * another store waits until that store is configured again. */
		if (r->key_store != NULL && strcmp(r->key_store, l->store_safe) != 0) {
			ae_log(ctx, AE_LOG_WARNING,
			       "interrupted request %s (%s) has its key in %s, not in the configured store: left as it is",
			       r->id, r->template_name ? r->template_name : "?", r->key_store);
			continue;
		}
		err = ae_keystore_delete(ctx, ks, r->id);
		if (err != AE_OK)
			break;
		ae_test_crash_point("recover-after-key-delete");
		err = ae_store_remove(ctx, st, r->id);
		if (err != AE_OK)
			break;
		ae_log(ctx, AE_LOG_NOTICE, "removed the key and record of an interrupted request for %s (%s)",
		       r->template_name ? r->template_name : "?", r->id);
		(*removed)++;
	}
	ae_records_free(recs, n);
	return err;
}
