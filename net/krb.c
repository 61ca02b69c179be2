/*
 * krb.c - credentials for the user and the machine context (MIT krb5).
 */
#include "config.h"

#include "krb.h"
#include "util.h"

#include <gssapi/gssapi_krb5.h>
#include <krb5.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

struct ae_krb {
	krb5_context kctx;
	krb5_ccache cc;     /* machine: our MEMORY cache; user: NULL */
	char *principal;
	char *realm;
	char *account;
	char *ccname;
	char cctype[16];
	time_t tgt_end, tgt_renew_till;
};

/* krb5_get_error_message's result must be freed with its own function:
 * wrap it once so callers cannot leak or misuse it. */
static ae_err
krb_message(ae_ctx *ctx, ae_err code, krb5_context kctx, krb5_error_code kerr,
            const char *what)
{
	const char *m = kctx != NULL ? krb5_get_error_message(kctx, kerr) : NULL;
	const char *advice = ae_krb_advice(m);
	ae_set_message(ctx, code, "%s: %s%s%s%s", what, m != NULL ? m : "unknown Kerberos error",
	               advice ? " (" : "", advice ? advice : "", advice ? ")" : "");
	if (m != NULL)
		krb5_free_error_message(kctx, m);
	return code;
}

ae_err
ae_krb_export_file(ae_ctx *ctx, ae_krb *krb, const char *path)
{
	krb5_ccache src = krb->cc, dst = NULL;
	krb5_principal princ = NULL;
	krb5_error_code kerr;
	char *name;
	mode_t old;
	ae_err err = AE_OK;

	name = ae_strdup_printf("FILE:%s", path);
	if (name == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	if (src == NULL && (kerr = krb5_cc_default(krb->kctx, &src)) != 0) {
		err = krb_message(ctx, AE_ERR_NOCREDS, krb->kctx, kerr, "no credential cache");
		src = NULL;
		goto out;
	}
	old = umask(077);
	kerr = krb5_cc_get_principal(krb->kctx, src, &princ);
	if (kerr == 0)
		kerr = krb5_cc_resolve(krb->kctx, name, &dst);
	if (kerr == 0)
		kerr = krb5_cc_initialize(krb->kctx, dst, princ);
	if (kerr == 0)
		kerr = krb5_cc_copy_creds(krb->kctx, src, dst);
	umask(old);
	if (kerr != 0)
		err = krb_message(ctx, AE_ERR_KERBEROS, krb->kctx, kerr, "cannot copy the credentials for SMB");
out:
	if (dst != NULL)
		krb5_cc_close(krb->kctx, dst);
	if (src != NULL && src != krb->cc)
		krb5_cc_close(krb->kctx, src);
	if (princ != NULL)
		krb5_free_principal(krb->kctx, princ);
	free(name);
	return err;
}

/* The cache GSS-API initiates with in this thread when ae_krb_machine
 * chose one (gss_krb5_ccache_name), else "": the default cache, as for a
 * user.  GSS-API does not say which cache a credential uses before a
 * context needs it (MIT resolves the default lazily), so it is kept here. */
static __thread char gss_ccname[128];

void
ae_krb_free(ae_krb *krb)
{
	if (krb == NULL)
		return;
	if (krb->ccname != NULL && strcmp(krb->ccname, gss_ccname) == 0)
		gss_ccname[0] = '\0';
	if (krb->cc != NULL)
		krb5_cc_destroy(krb->kctx, krb->cc);
	if (krb->kctx != NULL)
		krb5_free_context(krb->kctx);
	free(krb->principal);
	free(krb->realm);
	free(krb->account);
	free(krb->ccname);
	free(krb);
}

const char *ae_krb_principal(const ae_krb *krb) { return krb->principal; }
const char *ae_krb_realm(const ae_krb *krb) { return krb->realm; }
const char *ae_krb_account(const ae_krb *krb) { return krb->account; }

static ae_err
fill_names(ae_ctx *ctx, ae_krb *krb, krb5_principal princ)
{
	char *name = NULL;
	krb5_error_code kerr;

	kerr = krb5_unparse_name(krb->kctx, princ, &name);
	if (kerr != 0)
		return krb_message(ctx, AE_ERR_KERBEROS, krb->kctx, kerr, "cannot format principal");
	krb->principal = strdup(name);
	krb5_free_unparsed_name(krb->kctx, name);
	krb->realm = strndup(princ->realm.data, princ->realm.length);
	if (princ->length > 0)
		krb->account = strndup(princ->data[0].data, princ->data[0].length);
	if (krb->principal == NULL || krb->realm == NULL || krb->account == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	return AE_OK;
}

static ae_err
krb_new(ae_ctx *ctx, ae_krb **out)
{
	ae_krb *krb = calloc(1, sizeof(*krb));
	krb5_error_code kerr;

	*out = NULL;
	if (krb == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	kerr = krb5_init_context(&krb->kctx);
	if (kerr != 0) {
		free(krb);
		return ae_set_message(ctx, AE_ERR_KERBEROS,
		                      "cannot initialise Kerberos (check /etc/krb5.conf or KRB5_CONFIG): error %d",
		                      (int)kerr);
	}
	*out = krb;
	return AE_OK;
}

char *
ae_krb_default_realm(ae_ctx *ctx)
{
	krb5_context kctx = NULL;
	char *realm = NULL, *copy = NULL;

	if (krb5_init_context(&kctx) != 0)
		return NULL;
	if (krb5_get_default_realm(kctx, &realm) == 0) {
		copy = strdup(realm);
		krb5_free_default_realm(kctx, realm);
	}
	krb5_free_context(kctx);
	(void)ctx;
	return copy;
}

ae_err
ae_krb_user(ae_ctx *ctx, ae_krb **out)
{
	ae_krb *krb = NULL;
	krb5_ccache cc = NULL;
	krb5_principal princ = NULL;
	krb5_cc_cursor cur = NULL;
	krb5_creds creds;
	bool have_tgt = false;
	krb5_timestamp tgt_end = 0;
	krb5_error_code kerr;
	char *tgs = NULL;
	const char *ccname;
	krb5_context kctx;
	ae_err err;

	*out = NULL;
	err = krb_new(ctx, &krb);
	if (err != AE_OK)
		return err;
	kctx = krb->kctx;
	kerr = krb5_cc_default(krb->kctx, &cc);
	if (kerr != 0) {
		err = krb_message(ctx, AE_ERR_NOCREDS, krb->kctx, kerr, "no Kerberos credential cache");
		goto cleanup;
	}
	ccname = krb5_cc_get_name(krb->kctx, cc);
	krb->ccname = strdup(ccname ? ccname : "?");
	snprintf(krb->cctype, sizeof(krb->cctype), "%s", krb5_cc_get_type(krb->kctx, cc));
	kerr = krb5_cc_get_principal(krb->kctx, cc, &princ);
	if (kerr != 0) {
		const char *m = krb5_get_error_message(krb->kctx, kerr);
		err = ae_set_message(ctx, AE_ERR_NOCREDS,
		                     "no Kerberos credentials for the user in the %s cache %s:%s (%s): log in with pam_krb5 or pam_sss, or run kinit",
		                     krb5_cc_get_type(krb->kctx, cc), krb5_cc_get_type(krb->kctx, cc), krb->ccname,
		                     m ? m : "?");
		krb5_free_error_message(krb->kctx, m);
		goto cleanup;
	}
	err = fill_names(ctx, krb, princ);
	if (err != AE_OK)
		goto cleanup;
	if (asprintf(&tgs, "krbtgt/%s@%s", krb->realm, krb->realm) < 0) {
		tgs = NULL;
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	kerr = krb5_cc_start_seq_get(krb->kctx, cc, &cur);
	if (kerr != 0) {
		err = krb_message(ctx, AE_ERR_NOCREDS, krb->kctx, kerr, "cannot read the credential cache");
		goto cleanup;
	}
	while (krb5_cc_next_cred(krb->kctx, cc, &cur, &creds) == 0) {
		char *sname = NULL;
		if (krb5_unparse_name(krb->kctx, creds.server, &sname) == 0) {
			if (strcmp(sname, tgs) == 0) {
				have_tgt = true;
				tgt_end = creds.times.endtime;
				krb->tgt_renew_till = (creds.ticket_flags & TKT_FLG_RENEWABLE)
				                      ? (time_t)(uint32_t)creds.times.renew_till : 0;
			}
			krb5_free_unparsed_name(krb->kctx, sname);
		}
		krb5_free_cred_contents(krb->kctx, &creds);
	}
	krb5_cc_end_seq_get(krb->kctx, cc, &cur);
	if (!have_tgt) {
		err = ae_set_message(ctx, AE_ERR_NOCREDS,
		                     "the credential cache of %s holds no ticket-granting ticket for %s: run kinit",
		                     krb->principal, krb->realm);
		goto cleanup;
	}
	if ((time_t)(uint32_t)tgt_end <= time(NULL)) {
		char when[64];
		time_t t = (time_t)(uint32_t)tgt_end;
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", localtime(&t));
		err = ae_set_message(ctx, AE_ERR_NOCREDS,
		                     "the Kerberos ticket of %s expired at %s: log in again or run kinit",
		                     krb->principal, when);
		goto cleanup;
	}
	krb->tgt_end = (time_t)(uint32_t)tgt_end;
	*out = krb;
	krb = NULL;
	err = AE_OK;
cleanup:
	free(tgs);
	if (princ != NULL)
		krb5_free_principal(kctx, princ);
	if (cc != NULL)
		krb5_cc_close(kctx, cc);
	ae_krb_free(krb);
	return err;
}

ae_err
ae_krb_adopt_copy(ae_ctx *ctx, const char *path, char **memname)
{
	krb5_context kctx = NULL;
	krb5_ccache src = NULL, mem = NULL;
	krb5_principal princ = NULL;
	krb5_error_code kerr;
	char *srcname = NULL, *name = NULL;
	const char *what = "cannot read the private copy of the ticket cache";
	ae_err err;

	*memname = NULL;
	if (path[0] != '/') {
		err = ae_set_message(ctx, AE_ERR_INVALID, "the private copy of the ticket cache %s is not an absolute path",
		                     path);
		goto cleanup;
	}
	if (krb5_init_context(&kctx) != 0) {
		kctx = NULL;
		err = ae_set_message(ctx, AE_ERR_KERBEROS, "cannot initialise Kerberos (check /etc/krb5.conf or KRB5_CONFIG)");
		goto cleanup;
	}
	srcname = ae_strdup_printf("FILE:%s", path);
	name = ae_strdup_printf("MEMORY:autoenroll-user-%ld", (long)getpid());
	if (srcname == NULL || name == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	kerr = krb5_cc_resolve(kctx, srcname, &src);
	if (kerr == 0)
		kerr = krb5_cc_get_principal(kctx, src, &princ);
	if (kerr == 0) {
		what = "cannot load the ticket cache into memory";
		kerr = krb5_cc_resolve(kctx, name, &mem);
	}
	if (kerr == 0)
		kerr = krb5_cc_initialize(kctx, mem, princ);
	if (kerr == 0)
		kerr = krb5_cc_copy_creds(kctx, src, mem);
	if (kerr != 0) {
		char buf[512];
		snprintf(buf, sizeof(buf), "%s %s", what, path);
		err = krb_message(ctx, AE_ERR_NOCREDS, kctx, kerr, buf);
		if (mem != NULL)
			krb5_cc_destroy(kctx, mem);
		mem = NULL;
		goto cleanup;
	}
	*memname = name;
	name = NULL;
	err = AE_OK;
cleanup:
	/* A MEMORY cache lives on after its handle is closed, until the
	 * process ends. */
	if (mem != NULL)
		krb5_cc_close(kctx, mem);
	if (src != NULL)
		krb5_cc_close(kctx, src);
	if (princ != NULL)
		krb5_free_principal(kctx, princ);
	if (kctx != NULL)
		krb5_free_context(kctx);
	(void)unlink(path);
	free(srcname);
	free(name);
	return err;
}

/* The machine account in a keytab: the first NAME$@REALM principal, as
 * adcli and realmd write it. */
static ae_err
keytab_machine_principal(ae_ctx *ctx, krb5_context kctx, krb5_keytab kt, const char *path,
                         krb5_principal *out)
{
	krb5_kt_cursor cur;
	krb5_keytab_entry entry;
	krb5_error_code kerr;
	ae_err err = AE_ERR_NOTFOUND;

	*out = NULL;
	kerr = krb5_kt_start_seq_get(kctx, kt, &cur);
	if (kerr != 0)
		return krb_message(ctx, AE_ERR_NOCREDS, kctx, kerr, path);
	while (*out == NULL && krb5_kt_next_entry(kctx, kt, &entry, &cur) == 0) {
		krb5_principal p = entry.principal;
		if (p->length == 1 && p->data[0].length > 1 &&
		    p->data[0].data[p->data[0].length - 1] == '$') {
			if (krb5_copy_principal(kctx, p, out) == 0)
				err = AE_OK;
		}
		krb5_free_keytab_entry_contents(kctx, &entry);
	}
	krb5_kt_end_seq_get(kctx, kt, &cur);
	if (err != AE_OK)
		return ae_set_message(ctx, AE_ERR_NOCREDS,
		                      "the keytab %s has no machine account principal (NAME$@REALM): is this host joined (adcli join / realm join)?",
		                      path);
	return AE_OK;
}

char *
ae_krb_host_account(const ae_conf *conf)
{
	krb5_context kctx = NULL;
	krb5_keytab kt = NULL;
	krb5_principal princ = NULL;
	char host[256], *name = NULL, *at;
	ae_ctx *quiet = ae_ctx_new();
	size_t n = 0;

	if (quiet == NULL)
		return NULL;
	if (conf->machine_principal != NULL) {
		name = strdup(conf->machine_principal);
	} else if (conf->machine_keytab != NULL && access(conf->machine_keytab, R_OK) == 0 &&
	           krb5_init_context(&kctx) == 0 && krb5_kt_resolve(kctx, conf->machine_keytab, &kt) == 0 &&
	           keytab_machine_principal(quiet, kctx, kt, conf->machine_keytab, &princ) == AE_OK) {
		name = strndup(princ->data[0].data, princ->data[0].length);
	} else {
		if (gethostname(host, sizeof(host) - 1) != 0)
			host[0] = '\0';
		host[sizeof(host) - 1] = '\0';
		host[strcspn(host, ".")] = '\0';
		for (n = 0; host[n] != '\0' && n < 15; n++)
			host[n] = (char)toupper((unsigned char)host[n]);
		host[n] = '\0';
		name = n > 0 ? ae_strdup_printf("%s$", host) : strdup("");
	}
	if (name != NULL && (at = strchr(name, '@')) != NULL)
		*at = '\0';
	if (princ != NULL)
		krb5_free_principal(kctx, princ);
	if (kt != NULL)
		krb5_kt_close(kctx, kt);
	if (kctx != NULL)
		krb5_free_context(kctx);
	ae_ctx_free(quiet);
	return name;
}

ae_err
ae_krb_machine(ae_ctx *ctx, const ae_conf *conf, ae_krb **out)
{
	ae_krb *krb = NULL;
	krb5_keytab kt = NULL;
	krb5_principal princ = NULL;
	krb5_get_init_creds_opt *opt = NULL;
	krb5_creds creds;
	bool have_creds = false;
	krb5_error_code kerr;
	char ccname[64];
	char what[512];
	OM_uint32 minor;
	krb5_context kctx;
	ae_err err;

	*out = NULL;
	memset(&creds, 0, sizeof(creds));
	err = krb_new(ctx, &krb);
	if (err != AE_OK)
		return err;
	kctx = krb->kctx;
	if (access(conf->machine_keytab, R_OK) != 0) {
		err = ae_set_message(ctx, AE_ERR_NOCREDS,
		                     "cannot read the machine keytab %s (keytab in [machine]): the machine context needs root and a joined host",
		                     conf->machine_keytab);
		goto cleanup;
	}
	/* Whoever can change the keytab chooses the account root acts as. */
	if ((err = ae_conf_check_root_path(ctx, conf->machine_keytab, "keytab")) != AE_OK)
		goto cleanup;
	kerr = krb5_kt_resolve(krb->kctx, conf->machine_keytab, &kt);
	if (kerr != 0) {
		err = krb_message(ctx, AE_ERR_NOCREDS, krb->kctx, kerr, conf->machine_keytab);
		goto cleanup;
	}
	if (conf->machine_principal != NULL) {
		kerr = krb5_parse_name(krb->kctx, conf->machine_principal, &princ);
		if (kerr != 0) {
			err = krb_message(ctx, AE_ERR_CONFIG, krb->kctx, kerr,
			                  "principal in [machine] is not a Kerberos principal");
			goto cleanup;
		}
	} else {
		err = keytab_machine_principal(ctx, krb->kctx, kt, conf->machine_keytab, &princ);
		if (err != AE_OK)
			goto cleanup;
	}
	err = fill_names(ctx, krb, princ);
	if (err != AE_OK)
		goto cleanup;
	kerr = krb5_get_init_creds_opt_alloc(krb->kctx, &opt);
	if (kerr != 0) {
		err = krb_message(ctx, AE_ERR_NOMEM, krb->kctx, kerr, "Kerberos");
		goto cleanup;
	}
	kerr = krb5_get_init_creds_keytab(krb->kctx, &creds, princ, kt, 0, NULL, opt);
	if (kerr != 0) {
		snprintf(what, sizeof(what), "cannot get a ticket for %s from the keytab %s",
		         krb->principal, conf->machine_keytab);
		err = krb_message(ctx, AE_ERR_KERBEROS, krb->kctx, kerr, what);
		goto cleanup;
	}
	have_creds = true;
	krb->tgt_end = (time_t)(uint32_t)creds.times.endtime;
	krb->tgt_renew_till = (creds.ticket_flags & TKT_FLG_RENEWABLE) ? (time_t)(uint32_t)creds.times.renew_till : 0;
	snprintf(krb->cctype, sizeof(krb->cctype), "MEMORY");
	/* A cache of our own, in memory: the machine never writes a file a
	 * user could read, and never uses a user's cache. */
	snprintf(ccname, sizeof(ccname), "MEMORY:autoenroll-machine-%ld", (long)getpid());
	kerr = krb5_cc_resolve(krb->kctx, ccname, &krb->cc);
	if (kerr == 0)
		kerr = krb5_cc_initialize(krb->kctx, krb->cc, princ);
	if (kerr == 0)
		kerr = krb5_cc_store_cred(krb->kctx, krb->cc, &creds);
	if (kerr != 0) {
		err = krb_message(ctx, AE_ERR_KERBEROS, krb->kctx, kerr, "cannot store the machine ticket");
		goto cleanup;
	}
	krb->ccname = strdup(ccname);
	if (krb->ccname == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	/* GSS-API (and so SASL/GSSAPI in libldap) of this thread now uses it. */
	if (gss_krb5_ccache_name(&minor, krb->ccname, NULL) != GSS_S_COMPLETE) {
		err = ae_set_message(ctx, AE_ERR_KERBEROS, "cannot select the machine credential cache");
		goto cleanup;
	}
	snprintf(gss_ccname, sizeof(gss_ccname), "%s", krb->ccname);
	*out = krb;
	krb = NULL;
	err = AE_OK;
cleanup:
	if (have_creds)
		krb5_free_cred_contents(kctx, &creds);
	if (opt != NULL)
		krb5_get_init_creds_opt_free(kctx, opt);
	if (princ != NULL)
		krb5_free_principal(kctx, princ);
	if (kt != NULL)
		krb5_kt_close(kctx, kt);
	ae_krb_free(krb);
	return err;
}

void
ae_krb_tgt_times(const ae_krb *krb, time_t *end, time_t *renew_till)
{
	*end = krb->tgt_end;
	*renew_till = krb->tgt_renew_till;
}

const char *ae_krb_cache_type(const ae_krb *krb) { return krb->cctype; }

void
ae_keytab_keys_free(ae_keytab_key *keys, size_t count)
{
	for (size_t i = 0; keys != NULL && i < count; i++)
		free(keys[i].principal);
	free(keys);
}

ae_err
ae_krb_keytab_keys(ae_ctx *ctx, const char *path, ae_keytab_key **out, size_t *count)
{
	krb5_context kctx = NULL;
	krb5_keytab kt = NULL;
	krb5_kt_cursor cur;
	krb5_keytab_entry entry;
	krb5_error_code kerr;
	ae_keytab_key *keys = NULL;
	size_t n = 0;
	ae_err err = AE_OK;

	*out = NULL;
	*count = 0;
	if (krb5_init_context(&kctx) != 0)
		return ae_set_message(ctx, AE_ERR_KERBEROS, "cannot initialise Kerberos");
	kerr = krb5_kt_resolve(kctx, path, &kt);
	if (kerr == 0)
		kerr = krb5_kt_start_seq_get(kctx, kt, &cur);
	if (kerr != 0) {
		err = krb_message(ctx, AE_ERR_NOCREDS, kctx, kerr, path);
		goto cleanup;
	}
	while (err == AE_OK && krb5_kt_next_entry(kctx, kt, &entry, &cur) == 0) {
		ae_keytab_key *k = realloc(keys, (n + 1) * sizeof(*keys));
		char *name = NULL;
		if (k == NULL || krb5_unparse_name(kctx, entry.principal, &name) != 0) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			if (k != NULL)
				keys = k;
		} else {
			keys = k;
			memset(&keys[n], 0, sizeof(keys[n]));
			keys[n].principal = strdup(name);
			keys[n].kvno = entry.vno;
			keys[n].enctype = entry.key.enctype;
			if (krb5_enctype_to_name(entry.key.enctype, false, keys[n].enctype_name,
			                         sizeof(keys[n].enctype_name)) != 0)
				snprintf(keys[n].enctype_name, sizeof(keys[n].enctype_name), "enctype %d",
				         (int)entry.key.enctype);
			n++;
			if (keys[n - 1].principal == NULL)
				err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		}
		krb5_free_unparsed_name(kctx, name);
		krb5_free_keytab_entry_contents(kctx, &entry);
	}
	krb5_kt_end_seq_get(kctx, kt, &cur);
	if (err == AE_OK) {
		*out = keys;
		*count = n;
		keys = NULL;
	}
cleanup:
	ae_keytab_keys_free(keys, n);
	if (kt != NULL)
		krb5_kt_close(kctx, kt);
	krb5_free_context(kctx);
	return err;
}

const char *
ae_krb_advice(const char *text)
{
	static const struct { const char *needle; const char *advice; } table[] = {
		{ "Server not found in Kerberos database",
		  "the KDC does not know the service principal: check the server's DNS name and its SPNs (setspn -L)" },
		{ "Clock skew too great",
		  "this host's clock differs from the DC's by more than 5 minutes: check time synchronisation (chrony, systemd-timesyncd)" },
		{ "No Kerberos credentials available",
		  "no ticket-granting ticket: log in with pam_krb5/pam_sss or run kinit" },
		{ "Ticket expired",
		  "the Kerberos ticket expired: log in again or run kinit" },
		{ "Key version number",
		  "key version mismatch: the server's keytab is older than its account password (rejoin or refresh the keytab)" },
		{ "Cannot contact any KDC",
		  "no KDC answered: check DNS SRV _kerberos._tcp records, the network and krb5.conf" },
		{ "Cannot find KDC",
		  "no KDC for the realm: check DNS SRV _kerberos._tcp records and krb5.conf" },
		{ "Client's credentials have been revoked",
		  "the account is disabled or locked in Active Directory" },
		{ "Preauthentication failed",
		  "wrong key: the keytab does not match the account's password (rejoin the host)" },
		{ "not found in Kerberos database",
		  "the account does not exist in the realm" },
		{ "Message stream modified",
		  "KRB_AP_ERR_MODIFIED: the server could not decrypt the ticket: its keytab or account password changed, or the SPN belongs to another account (duplicate SPN)" },
		{ "Decrypt integrity check failed",
		  "the key does not match: a changed account password or a duplicate SPN; rejoin or refresh the keytab" },
		{ "Keytab contains no suitable keys",
		  "the keytab has no key for this principal: check principal in [machine] and the realm" },
	};
	if (text == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strstr(text, table[i].needle) != NULL)
			return table[i].advice;
	return NULL;
}

/* Whether the server principal P is SERVICE/HOST in any realm (service
 * class and host name compared without case, as AD compares SPNs). */
static bool
is_service_host(krb5_context kctx, krb5_const_principal p, const char *service, const char *host)
{
	const krb5_data *c0, *c1;

	if (krb5_princ_size(kctx, p) != 2)
		return false;
	c0 = krb5_princ_component(kctx, p, 0);
	c1 = krb5_princ_component(kctx, p, 1);
	return c0->length == strlen(service) && strncasecmp(c0->data, service, c0->length) == 0 &&
	       c1->length == strlen(host) && strncasecmp(c1->data, host, c1->length) == 0;
}

ae_err
ae_krb_service_ok_as_delegate(ae_ctx *ctx, const char *service, const char *host, size_t *found,
                              bool *ok_as_delegate, char **server)
{
	krb5_context kctx = NULL;
	krb5_ccache cc = NULL;
	krb5_cc_cursor cur = NULL;
	krb5_creds creds;
	krb5_error_code kerr;
	ae_err err;

	*found = 0;
	*ok_as_delegate = false;
	*server = NULL;
	if (krb5_init_context(&kctx) != 0)
		return ae_set_message(ctx, AE_ERR_KERBEROS, "cannot initialise Kerberos");
	kerr = gss_ccname[0] ? krb5_cc_resolve(kctx, gss_ccname, &cc) : krb5_cc_default(kctx, &cc);
	if (kerr != 0) {
		err = krb_message(ctx, AE_ERR_NOCREDS, kctx, kerr, "cannot open the credential cache the bind used");
		goto cleanup;
	}
	kerr = krb5_cc_start_seq_get(kctx, cc, &cur);
	if (kerr != 0) {
		err = krb_message(ctx, AE_ERR_KERBEROS, kctx, kerr, "cannot read the credential cache");
		goto cleanup;
	}
	*ok_as_delegate = true;
	while (krb5_cc_next_cred(kctx, cc, &cur, &creds) == 0) {
		if (!krb5_is_config_principal(kctx, creds.server) &&
		    is_service_host(kctx, creds.server, service, host)) {
			char *name = NULL;
			(*found)++;
			if (!(creds.ticket_flags & TKT_FLG_OK_AS_DELEGATE))
				*ok_as_delegate = false;
			if (*server == NULL && krb5_unparse_name(kctx, creds.server, &name) == 0) {
				*server = strdup(name);
				krb5_free_unparsed_name(kctx, name);
			}
		}
		krb5_free_cred_contents(kctx, &creds);
	}
	krb5_cc_end_seq_get(kctx, cc, &cur);
	if (*found == 0)
		*ok_as_delegate = false;
	err = AE_OK;
cleanup:
	if (cc != NULL)
		krb5_cc_close(kctx, cc);
	krb5_free_context(kctx);
	return err;
}
