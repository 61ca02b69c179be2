/*
 * cmd-status.c - "autoenroll status": the certificates and requests of a
 * context, from its local store (no network).
 */
#include "config.h"

#include "cli.h"
#include "json.h"
#include "local.h"
#include "pki.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char *
iso(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
		return NULL;
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

typedef struct {
	char subject[512];
	char issuer[512];
	char serial[128];
	char thumbprint[41];
	int64_t not_before, not_after, renewal_due;
} cert_facts;

static void
facts_of(const ae_record *r, cert_facts *f)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	BIGNUM *bn;
	char *hex;

	memset(f, 0, sizeof(*f));
	X509_NAME_oneline(X509_get_subject_name(r->cert), f->subject, sizeof(f->subject));
	X509_NAME_oneline(X509_get_issuer_name(r->cert), f->issuer, sizeof(f->issuer));
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(r->cert), NULL);
	hex = bn ? BN_bn2hex(bn) : NULL;
	snprintf(f->serial, sizeof(f->serial), "%s", hex ? hex : "");
	OPENSSL_free(hex);
	BN_free(bn);
	if (X509_digest(r->cert, EVP_sha1(), md, &mdlen) == 1)
		for (unsigned i = 0; i < mdlen && i < 20; i++)
			snprintf(f->thumbprint + 2 * i, 3, "%02X", md[i]);
	f->not_before = (int64_t)ae_asn1_time(X509_get0_notBefore(r->cert));
	f->not_after = (int64_t)ae_asn1_time(X509_get0_notAfter(r->cert));
	f->renewal_due = ae_renewal_due(f->not_before, f->not_after, r->renewal_seconds);
}

static void
print_json(const ae_local *l, ae_record **recs, size_t n)
{
	ae_json j;
	char t1[64];
	char *out;

	ae_json_init(&j);
	ae_json_begin_object(&j, NULL);
	ae_json_int(&j, "format_version", 1);
	ae_json_string(&j, "context", l->machine ? "machine" : "user");
	ae_json_string(&j, "state_dir", l->state_dir);
	ae_json_string(&j, "key_store", l->store_safe);
	ae_json_begin_array(&j, "records");
	for (size_t i = 0; i < n; i++) {
		const ae_record *r = recs[i];
		ae_json_begin_object(&j, NULL);
		ae_json_string(&j, "id", r->id);
		ae_json_string(&j, "store", ae_rec_store_name(r->state));
		ae_json_string(&j, "state", ae_rec_state_name(r->state));
		ae_json_string(&j, "template", r->template_name);
		ae_json_string(&j, "template_oid", r->template_oid);
		ae_json_int(&j, "major", r->major);
		ae_json_int(&j, "minor", r->minor);
		ae_json_string(&j, "policy_server", r->policy_server);
		ae_json_string(&j, "policy_id", r->policy_id);
		ae_json_string(&j, "ca", r->ca);
		ae_json_string(&j, "ca_host", r->ca_host);
		if (r->request_id)
			ae_json_int(&j, "request_id", r->request_id);
		else
			ae_json_null(&j, "request_id");
		ae_json_string(&j, "key_store", r->key_store);
		ae_json_string(&j, "key", r->key_uri);
		ae_json_string(&j, "created", iso(r->created, t1, sizeof(t1)));
		ae_json_string(&j, "updated", iso(r->updated, t1, sizeof(t1)));
		if (r->cert != NULL) {
			cert_facts f;
			facts_of(r, &f);
			ae_json_begin_object(&j, "certificate");
			ae_json_string(&j, "subject", f.subject);
			ae_json_string(&j, "issuer", f.issuer);
			ae_json_string(&j, "serial", f.serial);
			ae_json_string(&j, "thumbprint", f.thumbprint);
			ae_json_string(&j, "not_before", iso(f.not_before, t1, sizeof(t1)));
			ae_json_string(&j, "not_after", iso(f.not_after, t1, sizeof(t1)));
			ae_json_string(&j, "renewal_due", iso(f.renewal_due, t1, sizeof(t1)));
			ae_json_end_object(&j);
		} else {
			ae_json_null(&j, "certificate");
		}
		ae_json_end_object(&j);
	}
	ae_json_end_array(&j);
	ae_json_end_object(&j);
	out = ae_json_finish(&j);
	if (out != NULL)
		fputs(out, stdout);
	free(out);
}

static void
print_table(const ae_local *l, ae_record **recs, size_t n)
{
	char t1[64], t2[64];

	printf("%s context: records in %s, keys in %s\n", l->machine ? "Machine" : "User", l->state_dir,
	       l->store_safe);
	if (n == 0) {
		printf("\nNo certificates or requests yet.\n");
		return;
	}
	printf("\n%-8s  %-9s  %-24s  %-9s  %-10s  %-10s  %-10s  %s\n", "STORE", "STATE", "TEMPLATE", "VERSION",
	       "EXPIRES", "RENEW FROM", "CA", "KEY");
	for (size_t i = 0; i < n; i++) {
		const ae_record *r = recs[i];
		char ver[32];
		const char *exp = "-", *due = "-";
		snprintf(ver, sizeof(ver), "%u.%u", r->major, r->minor);
		if (r->cert != NULL) {
			cert_facts f;
			facts_of(r, &f);
			exp = iso(f.not_after, t1, sizeof(t1));
			due = iso(f.renewal_due, t2, sizeof(t2));
		}
		printf("%-8s  %-9s  %-24s  %-9s  %-10.10s  %-10.10s  %-10s  %s\n", ae_rec_store_name(r->state),
		       r->state == AE_REC_NEW ? "interrupted" : ae_rec_state_name(r->state),
		       r->template_name ? r->template_name : "?", ver, exp ? exp : "-", due ? due : "-",
		       r->ca ? r->ca : "-", r->key_uri ? r->key_uri : "(not made)");
	}
}

/* For applications that want files (NetworkManager, nginx,
 * wpa_supplicant): DIR/<template>.pem holds the current certificate and
 * its chain, DIR/<template>.key names the key: its PKCS#11 URI, or the
 * path of the key file. */
static ae_err
export_current(ae_ctx *ctx, ae_store *st, ae_record **recs, size_t n, const char *dir, unsigned *count)
{
	*count = 0;
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return ae_set_message(ctx, AE_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
	for (size_t i = 0; i < n; i++) {
		const ae_record *r = recs[i];
		char *src = NULL, *dst = NULL, *kdst = NULL, *pem = NULL, *uri = NULL;
		size_t len = 0;
		FILE *f;
		ae_err err = AE_OK;

		if (r->state != AE_REC_ISSUED || r->cert == NULL || r->template_name == NULL ||
		    strchr(r->template_name, '/') != NULL || r->template_name[0] == '.')
			continue;
		if (asprintf(&src, "%s/certs/%s.pem", ae_store_dir(st), r->id) < 0 ||
		    asprintf(&dst, "%s/%s.pem", dir, r->template_name) < 0 ||
		    asprintf(&kdst, "%s/%s.key", dir, r->template_name) < 0 ||
		    asprintf(&uri, "%s\n", r->key_uri ? r->key_uri : "") < 0)
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		f = fopen(src, "re");
		if (f != NULL) {
			pem = malloc(1024 * 1024);
			len = pem ? fread(pem, 1, 1024 * 1024, f) : 0;
			fclose(f);
		}
		if (pem == NULL || len == 0)
			err = ae_set_message(ctx, AE_ERR_IO, "cannot read %s", src);
		if (err == AE_OK)
			err = ae_write_file_atomic(ctx, dst, pem, len, 0644);
		if (err == AE_OK)
			err = ae_write_file_atomic(ctx, kdst, uri, strlen(uri), 0644);
		free(src);
		free(dst);
		free(kdst);
		free(pem);
		free(uri);
		if (err != AE_OK)
			return err;
		(*count)++;
	}
	return AE_OK;
}

static void
status_usage(FILE *f)
{
	fprintf(f, "Usage: autoenroll status [--user | --machine] [--json] [--export DIR] [-c FILE]\n");
}

int
ae_cmd_status(ae_ctx *ctx, ae_cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "user", no_argument, NULL, 'u' },
		{ "machine", no_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		{ "export", required_argument, NULL, 'e' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool user = false, machine = false, json = false;
	const char *export_dir = NULL;
	ae_conf *conf = NULL;
	ae_local local = { 0 };
	ae_store *st = NULL;
	ae_record **recs = NULL;
	size_t n = 0;
	int rc = AE_EXIT_FAILURE, c;
	ae_err err;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'u': user = true; break;
		case 'm': machine = true; break;
		case 'j': json = true; break;
		case 'e': export_dir = optarg; break;
		case 'c': g->config_path = optarg; break;
		case 'h': status_usage(stdout); return AE_EXIT_OK;
		default: status_usage(stderr); return AE_EXIT_USAGE;
		}
	}
	if (optind < argc || (user && machine)) {
		status_usage(stderr);
		return AE_EXIT_USAGE;
	}
	if (ae_cli_load_conf(ctx, g, &conf) != AE_OK || ae_local_init(ctx, conf, machine, &local) != AE_OK)
		goto fail;
	err = ae_store_open(ctx, local.state_dir, false, &st);
	if (err == AE_ERR_NOTFOUND) {
		ae_clear_message(ctx); /* nothing enrolled yet */
	} else if (err != AE_OK || ae_store_load(ctx, st, &recs, &n) != AE_OK) {
		goto fail;
	}
	if (export_dir != NULL && st != NULL) {
		unsigned exported = 0;
		if (export_current(ctx, st, recs, n, export_dir, &exported) != AE_OK)
			goto fail;
		ae_log(ctx, AE_LOG_INFO, "exported %u certificate%s to %s", exported, exported == 1 ? "" : "s",
		       export_dir);
	}
	if (json)
		print_json(&local, recs, n);
	else
		print_table(&local, recs, n);
	rc = AE_EXIT_OK;
	goto cleanup;
fail:
	ae_cli_error(ctx);
cleanup:
	ae_records_free(recs, n);
	ae_store_free(st);
	ae_local_clear(&local);
	ae_conf_free(conf);
	return rc;
}
