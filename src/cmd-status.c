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

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
	char thumbprint[41];        /* SHA-1, uppercase hex, as certutil and certlm.msc show it */
	char thumbprint_sha256[65];
	int64_t not_before, not_after, renewal_due;
	bool expiring;              /* current, within expiry_warning_percent of its lifetime: not renewed */
	char **san;                 /* "DNS:host", "UPN:user@realm", ... */
	char **eku;                 /* dotted OIDs */
} cert_facts;

#define OID_UPN "1.3.6.1.4.1.311.20.2.3"

/* Names of the extended key usages Windows shows, by OID. */
static const struct {
	const char *oid, *name;
} eku_names[] = {
	{ "1.3.6.1.5.5.7.3.1", "Server Authentication" },
	{ "1.3.6.1.5.5.7.3.2", "Client Authentication" },
	{ "1.3.6.1.5.5.7.3.3", "Code Signing" },
	{ "1.3.6.1.5.5.7.3.4", "Secure Email" },
	{ "1.3.6.1.5.5.7.3.8", "Time Stamping" },
	{ "1.3.6.1.5.5.7.3.9", "OCSP Signing" },
	{ "1.3.6.1.5.5.8.2.2", "IP security IKE intermediate" },
	{ "1.3.6.1.5.2.3.4", "PKINIT Client Authentication" },
	{ "1.3.6.1.5.2.3.5", "KDC Authentication" },
	{ "1.3.6.1.4.1.311.10.3.1", "Microsoft Trust List Signing" },
	{ "1.3.6.1.4.1.311.10.3.4", "Encrypting File System" },
	{ "1.3.6.1.4.1.311.10.3.4.1", "File Recovery" },
	{ "1.3.6.1.4.1.311.10.3.12", "Document Signing" },
	{ "1.3.6.1.4.1.311.10.3.13", "Lifetime Signing" },
	{ "1.3.6.1.4.1.311.20.2.1", "Certificate Request Agent" },
	{ "1.3.6.1.4.1.311.20.2.2", "Smart Card Logon" },
	{ "1.3.6.1.4.1.311.21.5", "Private Key Archival" },
	{ "1.3.6.1.4.1.311.21.6", "Key Recovery Agent" },
	{ "1.3.6.1.4.1.311.21.19", "Directory Service Email Replication" },
	{ "2.5.29.37.0", "Any Purpose" },
};

static const char *
eku_name(const char *oid)
{
	for (size_t i = 0; i < sizeof(eku_names) / sizeof(eku_names[0]); i++)
		if (strcmp(eku_names[i].oid, oid) == 0)
			return eku_names[i].name;
	return NULL;
}

/* One subjectAltName entry as "TYPE:value" (NULL for types not shown). */
static char *
san_string(const GENERAL_NAME *gn)
{
	const unsigned char *ip;
	char oid[128], buf[64];

	switch (gn->type) {
	case GEN_DNS:
		return ae_strdup_printf("DNS:%.*s", ASN1_STRING_length(gn->d.dNSName),
		                        (const char *)ASN1_STRING_get0_data(gn->d.dNSName));
	case GEN_EMAIL:
		return ae_strdup_printf("email:%.*s", ASN1_STRING_length(gn->d.rfc822Name),
		                        (const char *)ASN1_STRING_get0_data(gn->d.rfc822Name));
	case GEN_URI:
		return ae_strdup_printf("URI:%.*s", ASN1_STRING_length(gn->d.uniformResourceIdentifier),
		                        (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier));
	case GEN_IPADD:
		ip = ASN1_STRING_get0_data(gn->d.iPAddress);
		if ((ASN1_STRING_length(gn->d.iPAddress) == 4 && inet_ntop(AF_INET, ip, buf, sizeof(buf)) != NULL) ||
		    (ASN1_STRING_length(gn->d.iPAddress) == 16 && inet_ntop(AF_INET6, ip, buf, sizeof(buf)) != NULL))
			return ae_strdup_printf("IP:%s", buf);
		return NULL;
	case GEN_DIRNAME: {
		char name[512];
		X509_NAME_oneline(gn->d.directoryName, name, sizeof(name));
		return ae_strdup_printf("DirName:%s", name);
	}
	case GEN_OTHERNAME:
		OBJ_obj2txt(oid, sizeof(oid), gn->d.otherName->type_id, 1);
		if (strcmp(oid, OID_UPN) == 0 && gn->d.otherName->value->type == V_ASN1_UTF8STRING) {
			const ASN1_UTF8STRING *u = gn->d.otherName->value->value.utf8string;
			return ae_strdup_printf("UPN:%.*s", ASN1_STRING_length(u),
			                        (const char *)ASN1_STRING_get0_data(u));
		}
		return ae_strdup_printf("otherName:%s", oid);
	default:
		return NULL;
	}
}

static void
facts_extensions(X509 *cert, cert_facts *f)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(cert, NID_ext_key_usage, NULL, NULL);
	char oid[128];

	for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
		char *one = san_string(sk_GENERAL_NAME_value(names, i));
		if (one != NULL)
			ae_strv_append(&f->san, one);
		free(one);
	}
	for (int i = 0; eku != NULL && i < sk_ASN1_OBJECT_num(eku); i++)
		if (OBJ_obj2txt(oid, sizeof(oid), sk_ASN1_OBJECT_value(eku, i), 1) > 0)
			ae_strv_append(&f->eku, oid);
	GENERAL_NAMES_free(names);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	ERR_clear_error();
}

static void
facts_clear(cert_facts *f)
{
	ae_strv_free(f->san);
	ae_strv_free(f->eku);
	f->san = f->eku = NULL;
}

/* expiry_warning_percent of the configuration (status runs once). */
static int warn_percent = 10;

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
	if (X509_digest(r->cert, EVP_sha256(), md, &mdlen) == 1)
		for (unsigned i = 0; i < mdlen && i < 32; i++)
			snprintf(f->thumbprint_sha256 + 2 * i, 3, "%02X", md[i]);
	facts_extensions(r->cert, f);
	f->not_before = (int64_t)ae_asn1_time(X509_get0_notBefore(r->cert));
	f->not_after = (int64_t)ae_asn1_time(X509_get0_notAfter(r->cert));
	f->renewal_due = ae_renewal_due(f->not_before, f->not_after, r->renewal_seconds);
	f->expiring = r->state == AE_REC_ISSUED && ae_expiry_warning(f->not_before, f->not_after, ae_now(), warn_percent);
}

static void
print_json(const ae_local *l, ae_record **recs, size_t n)
{
	ae_json j;
	char t1[64];

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
			ae_json_string(&j, "thumbprint_sha256", f.thumbprint_sha256);
			ae_json_string(&j, "not_before", iso(f.not_before, t1, sizeof(t1)));
			ae_json_string(&j, "not_after", iso(f.not_after, t1, sizeof(t1)));
			ae_json_string(&j, "renewal_due", iso(f.renewal_due, t1, sizeof(t1)));
			ae_json_bool(&j, "expiry_warning", f.expiring);
			ae_json_begin_array(&j, "san");
			for (size_t k = 0; f.san != NULL && f.san[k] != NULL; k++)
				ae_json_string(&j, NULL, f.san[k]);
			ae_json_end_array(&j);
			ae_json_begin_array(&j, "eku");
			for (size_t k = 0; f.eku != NULL && f.eku[k] != NULL; k++) {
				ae_json_begin_object(&j, NULL);
				ae_json_string(&j, "oid", f.eku[k]);
				ae_json_string(&j, "name", eku_name(f.eku[k]));
				ae_json_end_object(&j);
			}
			ae_json_end_array(&j);
			ae_json_end_object(&j);
			facts_clear(&f);
		} else {
			ae_json_null(&j, "certificate");
		}
		ae_json_end_object(&j);
	}
	ae_json_end_array(&j);
	ae_json_end_object(&j);
	ae_cli_print_json(&j);
}

/* Under a certificate's row: thumbprint, SANs and EKUs, as an admin
 * compares them with certlm.msc. */
static void
print_cert_details(const cert_facts *f)
{
	printf("          thumbprint %s\n", f->thumbprint);
	if (f->san != NULL) {
		printf("          SAN");
		for (size_t k = 0; f->san[k] != NULL; k++)
			printf("%s %s", k ? "," : "", f->san[k]);
		printf("\n");
	}
	if (f->eku != NULL) {
		printf("          EKU");
		for (size_t k = 0; f->eku[k] != NULL; k++) {
			const char *name = eku_name(f->eku[k]);
			if (name != NULL)
				printf("%s %s (%s)", k ? "," : "", name, f->eku[k]);
			else
				printf("%s %s", k ? "," : "", f->eku[k]);
		}
		printf("\n");
	}
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
		cert_facts f = { 0 };
		snprintf(ver, sizeof(ver), "%u.%u", r->major, r->minor);
		if (r->cert != NULL) {
			facts_of(r, &f);
			exp = iso(f.not_after, t1, sizeof(t1));
			due = iso(f.renewal_due, t2, sizeof(t2));
		}
		printf("%-8s  %-9s  %-24s  %-9s  %-10.10s  %-10.10s  %-10s  %s\n", ae_rec_store_name(r->state),
		       r->state == AE_REC_NEW ? "interrupted" : ae_rec_state_name(r->state),
		       r->template_name ? r->template_name : "?", ver, exp ? exp : "-", due ? due : "-",
		       r->ca ? r->ca : "-", r->key_uri ? r->key_uri : "(not made)");
		if (r->cert != NULL)
			print_cert_details(&f);
		if (f.expiring)
			printf("          WARNING: %d%% or less of its lifetime is left and it was not renewed (expiry_warning_percent)\n",
			       warn_percent);
		facts_clear(&f);
	}
}

static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* The key of a file store as PEM PKCS#8 text, checked against CERT, in
 * *PEM_OUT (*LEN_OUT bytes). */
static ae_err
file_key_pem(ae_ctx *ctx, const char *path, X509 *cert, char **pem_out, size_t *len_out)
{
	BIO *in = NULL, *out = NULL;
	EVP_PKEY *pkey = NULL;
	char *data = NULL;
	long len;
	ae_err err = AE_OK;

	*pem_out = NULL;
	*len_out = 0;
	in = BIO_new_file(path, "re");
	if (in == NULL) {
		err = ae_set_message(ctx, AE_ERR_IO, "cannot read the key file %s: %s", path, strerror(errno));
		goto cleanup;
	}
	pkey = PEM_read_bio_PrivateKey(in, NULL, no_passphrase, NULL);
	if (pkey == NULL) {
		err = ae_set_message(ctx, AE_ERR_IO, "%s holds no PEM private key", path);
		goto cleanup;
	}
	if (X509_check_private_key(cert, pkey) != 1) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "the key in %s does not match its certificate", path);
		goto cleanup;
	}
	out = BIO_new(BIO_s_mem());
	if (out == NULL || PEM_write_bio_PKCS8PrivateKey(out, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (len = BIO_get_mem_data(out, &data)) <= 0 || (*pem_out = calloc(1, (size_t)len + 1)) == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "cannot write the key of %s as PEM", path);
		goto cleanup;
	}
	memcpy(*pem_out, data, (size_t)len);
	*len_out = (size_t)len;
cleanup:
	ERR_clear_error();
	EVP_PKEY_free(pkey);
	BIO_free(in);
	BIO_free(out);
	return err;
}

/* The key file next to an exported certificate: the private key itself
 * (0600) for a file store, DIR/<template>.key.uri with the PKCS#11 URI for
 * a token (its key cannot leave it); the other name is removed so that no
 * stale key file is left from an earlier export. */
static ae_err
export_key(ae_ctx *ctx, const ae_record *r, const char *dir, char **written)
{
	char *kdst = NULL, *udst = NULL, *text = NULL;
	size_t len = 0;
	bool token = r->key_uri != NULL && strncmp(r->key_uri, "pkcs11:", 7) == 0;
	ae_err err = AE_OK;

	*written = NULL;
	if (r->key_uri == NULL || r->key_uri[0] == '\0')
		return ae_set_message(ctx, AE_ERR_INVALID, "the record of %s names no key", r->template_name);
	if (asprintf(&kdst, "%s/%s.key", dir, r->template_name) < 0 ||
	    asprintf(&udst, "%s/%s.key.uri", dir, r->template_name) < 0) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if (token) {
		if (asprintf(&text, "%s\n", r->key_uri) < 0) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		err = ae_write_file_atomic(ctx, udst, text, strlen(text), 0644);
	} else {
		err = file_key_pem(ctx, r->key_uri, r->cert, &text, &len);
		if (err == AE_OK)
			err = ae_write_file_atomic(ctx, kdst, text, len, 0600);
	}
	if (err != AE_OK)
		goto cleanup;
	if (unlink(token ? kdst : udst) != 0 && errno != ENOENT)
		err = ae_set_message(ctx, AE_ERR_IO, "cannot remove the stale %s: %s", token ? kdst : udst,
		                     strerror(errno));
	*written = token ? udst : kdst;
	if (token)
		udst = NULL;
	else
		kdst = NULL;
cleanup:
	if (text != NULL)
		OPENSSL_cleanse(text, strlen(text));
	free(text);
	free(kdst);
	free(udst);
	return err;
}

/* For applications that want files (NetworkManager, nginx,
 * wpa_supplicant): DIR/<template>.pem holds the current certificate and
 * its chain, DIR/<template>.key its private key (file store) or
 * DIR/<template>.key.uri its PKCS#11 URI (token).  Each is reported on
 * stderr unless QUIET. */
static ae_err
export_current(ae_ctx *ctx, ae_store *st, ae_record **recs, size_t n, const char *dir, bool quiet,
               unsigned *count)
{
	*count = 0;
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return ae_set_message(ctx, AE_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
	for (size_t i = 0; i < n; i++) {
		const ae_record *r = recs[i];
		char *src = NULL, *dst = NULL, *pem = NULL, *key = NULL;
		size_t len = 0;
		FILE *f;
		ae_err err = AE_OK;

		if (r->state != AE_REC_ISSUED || r->cert == NULL || r->template_name == NULL ||
		    strchr(r->template_name, '/') != NULL || r->template_name[0] == '.')
			continue;
		if (asprintf(&src, "%s/certs/%s.pem", ae_store_dir(st), r->id) < 0 ||
		    asprintf(&dst, "%s/%s.pem", dir, r->template_name) < 0)
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
			err = export_key(ctx, r, dir, &key);
		if (err == AE_OK && !quiet)
			fprintf(stderr, "autoenroll: %s: certificate and chain in %s, %s in %s\n", r->template_name,
			        dst, strncmp(r->key_uri, "pkcs11:", 7) == 0 ?
			        "key on a PKCS#11 token (it cannot leave it): its URI" : "private key (PEM, 0600)",
			        key);
		free(src);
		free(dst);
		free(pem);
		free(key);
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
	warn_percent = conf->expiry_warning_percent;
	err = ae_store_open(ctx, local.state_dir, false, &st);
	if (err == AE_ERR_NOTFOUND) {
		ae_clear_message(ctx); /* nothing enrolled yet */
	} else if (err != AE_OK || ae_store_load(ctx, st, &recs, &n) != AE_OK) {
		goto fail;
	}
	if (export_dir != NULL && st != NULL) {
		unsigned exported = 0;
		if (export_current(ctx, st, recs, n, export_dir, g->quiet, &exported) != AE_OK)
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
