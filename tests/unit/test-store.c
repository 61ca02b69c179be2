/*
 * test-store.c - the local store: record files, crash-safe writes (a child
 * killed by SIGKILL before the rename leaves the old record), bad records
 * kept and skipped, certificates, and the renewal rule.
 */
#include "config.h"

#include "store.h"
#include "tap.h"
#include "util.h"

#include <openssl/pem.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/ae-test-store-XXXXXX";

static ae_record *
sample(const char *id)
{
	ae_record *r = ae_record_new();
	r->id = strdup(id);
	r->state = AE_REC_REQUESTED;
	r->template_name = strdup("LabUser");
	r->template_oid = strdup("1.3.6.1.4.1.311.21.8.1.2.3.1.101");
	r->major = 100;
	r->minor = 3;
	r->renewal_seconds = 3628800;
	r->policy_server = strdup("LDAP:");
	r->policy_id = strdup("{EED10B3D-8701-4EED-94A9-F50095BE7442}");
	r->ca = strdup("CORP-CA1");
	r->key_store = strdup("pkcs11:token=ae-test");
	r->key_uri = strdup("pkcs11:token=ae-test;id=%01%02;type=private");
	r->created = 1795000000;
	return r;
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static X509 *
self_signed(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (unsigned char *)"t", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_sign(x, k, EVP_sha256());
	EVP_PKEY_free(k);
	return x;
}

int
main(void)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_store *st = NULL;
	ae_record *r, *p = NULL, **recs = NULL;
	size_t n = 0;
	char *text, path[512];
	struct stat sb;
	ae_err err;

	if (mkdtemp(dir) == NULL)
		return 1;

	/* Format and parse round trip. */
	r = sample("0a1b2c");
	text = ae_record_format(r);
	err = ae_record_parse(ctx, text, strlen(text), "mem", &p);
	tap_ok(err == AE_OK && p != NULL, "a formatted record parses");
	if (p != NULL) {
		tap_is_str(p->template_name, "LabUser", "template");
		tap_is_int(p->major, 100, "major");
		tap_is_int(p->minor, 3, "minor");
		tap_is_int(p->state, AE_REC_REQUESTED, "state");
		tap_is_int(p->renewal_seconds, 3628800, "renewal period");
		tap_is_str(p->key_uri, "pkcs11:token=ae-test;id=%01%02;type=private", "key URI");
		tap_is_int(p->created, 1795000000, "created");
		tap_ok(p->scep_subject == NULL, "a record without scep_subject (older autoenroll) reads, without one");
	}
	ae_record_free(p);
	free(text);
	/* SCEP: the request's subject for CertPoll round-trips */
	r->scep_subject = strdup("300f310d300b06035504030c0464657631");
	text = ae_record_format(r);
	p = NULL;
	tap_ok(ae_record_parse(ctx, text, strlen(text), "mem", &p) == AE_OK && p != NULL && p->scep_subject != NULL &&
	               strcmp(p->scep_subject, r->scep_subject) == 0,
	       "scep_subject round-trips");
	ae_record_free(p);
	free(text);

	{
		ae_record *f;

		/* The proof of concept: a template name from AD with a newline and a
		 * field of its own, a CA host with a carriage return.  The record is
		 * written escaped (version 2), reads back with the same values and
		 * the real key URI, and formats again to the same text. */
		f = sample("0a1b2d");
		free(f->template_name);
		f->template_name = strdup("LabUser\nkey_uri = file:/etc/shadow");
		f->ca_host = strdup("ca1.corp.test\r");
		f->policy_id = (free(f->policy_id), strdup("back\\slash\x01\x7f\t"));
		text = ae_record_format(f);
		tap_ok(strstr(text, "\nkey_uri = file:/etc/shadow") == NULL && strstr(text, "version = 2\n") != NULL,
		       "a value with a newline adds no line to the record (version 2, escaped)");
		err = ae_record_parse(ctx, text, strlen(text), "mem", &p);
		tap_ok(err == AE_OK && p != NULL, "the record with escapes parses: %s", err ? ae_get_message(ctx) : "");
		if (p != NULL) {
			char *again = ae_record_format(p);
			tap_is_str(p->key_uri, "pkcs11:token=ae-test;id=%01%02;type=private", "the key URI is the real one");
			tap_is_str(p->template_name, "LabUser\nkey_uri = file:/etc/shadow", "the template name, byte for byte");
			tap_is_str(p->ca_host, "ca1.corp.test\r", "a carriage return is kept, not an unreadable record");
			tap_is_str(p->policy_id, "back\\slash\x01\x7f\t", "backslash, \\x01, DEL and tab");
			tap_is_str(again, text, "format, parse, format: the same text");
			free(again);
	}
		ae_record_free(p);
		p = NULL;
		free(text);
		ae_record_free(f);
		/* Version 1 (older records, and records needing no escape) is read
		 * as it is: a backslash there is a backslash. */
		f = sample("0a1b2e");
		text = ae_record_format(f);
		tap_ok(strstr(text, "version = 1\n") != NULL, "a record without anything to escape is still version 1");
		free(text);
		ae_record_free(f);
		text = strdup("version = 1\nid = 0a\nstate = new\nkey_store = file:C:\\x41\n");
		err = ae_record_parse(ctx, text, strlen(text), "mem", &p);
		tap_ok(err == AE_OK && p != NULL && strcmp(p->key_store, "file:C:\\x41") == 0,
		       "version 1: backslashes read as they are");
		ae_record_free(p);
		p = NULL;
		free(text);
		text = strdup("version = 2\nid = 0a\nstate = new\nca = bad\\q\n");
		tap_ok(ae_record_parse(ctx, text, strlen(text), "mem", &p) != AE_OK && p == NULL &&
		       strstr(ae_get_message(ctx), "bad escape in ca") != NULL, "version 2: a bad escape is refused");
		free(text);
		text = strdup("version = 2\nid = 0a\nstate = new\nca = nul\\x00\n");
		tap_ok(ae_record_parse(ctx, text, strlen(text), "mem", &p) != AE_OK && p == NULL,
		       "version 2: an escaped NUL is refused");
		free(text);

	}

	/* Writes never go through a link: a symbolic link planted at the
	 * temporary name (AE_TEST_TMP_RANDOM fixes its random part), or at
	 * the file's own name, leaves its target alone; a directory that is
	 * a link, or writable by others, is refused. */
	{
		char victim[600], file[600], planted[700], linkdir[600], open_dir[600], buf[64] = "";
		FILE *vf;

		snprintf(victim, sizeof(victim), "%s/victim", dir);
		snprintf(file, sizeof(file), "%s/file.pem", dir);
		write_text(victim, "precious\n");
		snprintf(planted, sizeof(planted), "%s.tmp.%ld.0badc0de", file, (long)getpid());
		tap_ok(symlink(victim, planted) == 0, "a link planted where the temporary file would go");
		setenv("AE_TEST_TMP_RANDOM", "0badc0de", 1);
		err = ae_write_file_atomic(ctx, file, "new\n", 4, 0644);
		unsetenv("AE_TEST_TMP_RANDOM");
		vf = fopen(victim, "r");
		if (vf != NULL && fgets(buf, sizeof(buf), vf) == NULL)
			buf[0] = '\0';
		if (vf != NULL)
			fclose(vf);
		tap_ok(err == AE_OK && strcmp(buf, "precious\n") == 0, "written under another name; the link's target untouched");
		tap_ok(lstat(file, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 4, "the file is the new one");
		unlink(planted);
		unlink(file);
		tap_ok(symlink(victim, file) == 0 && ae_write_file_atomic(ctx, file, "new\n", 4, 0644) == AE_OK &&
		       lstat(file, &sb) == 0 && S_ISREG(sb.st_mode) && stat(victim, &sb) == 0 && sb.st_size == 9,
		       "a link at the file's name is replaced, not followed");
		snprintf(linkdir, sizeof(linkdir), "%s/linkdir", dir);
		snprintf(file, sizeof(file), "%s/linkdir/x", dir);
		tap_ok(symlink(dir, linkdir) == 0 && ae_write_file_atomic(ctx, file, "x", 1, 0644) != AE_OK &&
		       strstr(ae_get_message(ctx), "symbolic link") != NULL, "a directory that is a link is refused: %s",
		       ae_get_message(ctx));
		snprintf(open_dir, sizeof(open_dir), "%s/open", dir);
		snprintf(file, sizeof(file), "%s/open/x", dir);
		mkdir(open_dir, 0700);
		chmod(open_dir, 0777);
		tap_ok(ae_write_file_atomic(ctx, file, "x", 1, 0644) != AE_OK &&
		       strstr(ae_get_message(ctx), "writable by group or others (mode 0777)") != NULL,
		       "a directory others can write is refused: %s", ae_get_message(ctx));
		tap_ok(access(file, F_OK) != 0, "nothing written there");
		rmdir(open_dir);
		unlink(linkdir);
		unlink(victim);
		unlink(planted);
		snprintf(file, sizeof(file), "%s/file.pem", dir);
		unlink(file);
	}

	/* Bad records: clear errors, nothing returned. */
	{
		static const struct { const char *text, *needle, *what; } bad[] = {
			{ "version = 1\nstate = issued\n", "not a complete record", "no id" },
			{ "version = 3\nid = ab\nstate = issued\n", "newer than this autoenroll", "future version" },
			{ "version = 1\nid = ab\nstate = lost\n", "unknown state", "unknown state" },
			{ "version = 1\nid = ../../etc\nstate = issued\n", "not a complete record", "path in id" },
			{ "version = 1\nid = ab\nstate = issued\ntemplate_major = 99999999999\n", "not a 32-bit number", "overflow" },
			{ "version = 1\nid = ab\nstate = issued\ntemplate_major = -1\n", "not a 32-bit number", "negative" },
			{ "version = 1\nid = ab\nstate = issued\nca = a\tb\n", "control character", "control character" },
			{ "version = 1\nid = ab\nstate issued\n", "expected \"key = value\"", "no separator" },
			{ "id = ab\nstate = issued\n", "not a complete record", "no version" },
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			p = NULL;
			err = ae_record_parse(ctx, bad[i].text, strlen(bad[i].text), "bad.rec", &p);
			tap_ok(err == AE_ERR_INVALID && p == NULL && strstr(ae_get_message(ctx), bad[i].needle),
			       "bad record (%s): %s", bad[i].what, ae_get_message(ctx));
		}
		const char *later = "version = 1\nid = ab\nstate = pending\nfuture_field = x\n";
		p = NULL;
		err = ae_record_parse(ctx, later, strlen(later), "f", &p);
		tap_ok(err == AE_OK && p != NULL, "unknown fields of a later version are ignored");
		ae_record_free(p);
	}

	/* The store directory. */
	snprintf(path, sizeof(path), "%s/state", dir);
	tap_ok(ae_store_open(ctx, path, false, &st) == AE_ERR_NOTFOUND && st == NULL,
	       "missing directory without create: not found");
	tap_ok(ae_store_open(ctx, path, true, &st) == AE_OK, "created");
	tap_ok(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0700, "state directory is 0700");
	tap_ok(ae_store_save(ctx, st, r) == AE_OK, "record saved");
	snprintf(path, sizeof(path), "%s/state/records/0a1b2c.rec", dir);
	tap_ok(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600, "record file is 0600");

	/* Crash between write and rename: the old record survives intact. */
	{
		pid_t pid = fork();
		int status = 0;
		if (pid == 0) {
			ae_record *c = sample("0a1b2c");
			c->state = AE_REC_PENDING;
			setenv("AE_TEST_CRASH_AT", "store-before-rename", 1);
			ae_store_save(ctx, st, c);
			_exit(0);
		}
		waitpid(pid, &status, 0);
		tap_ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child killed before the rename");
		ae_store_load(ctx, st, &recs, &n);
		tap_ok(n == 1 && recs[0]->state == AE_REC_REQUESTED, "the old record is intact after the crash");
		ae_records_free(recs, n);
		ae_store_free(st);
		snprintf(path, sizeof(path), "%s/state", dir);
		ae_store_open(ctx, path, true, &st);
		{
			char cmd[600];
			snprintf(cmd, sizeof(cmd), "ls %s/state/records | grep -q tmp", dir);
			tap_ok(system(cmd) != 0, "the interrupted write's temporary file is cleaned up at open");
		}
	}

	/* A pulse killed while writing the state directory's own files
	 * (last-pulse.json, the policy cache: found by tests/bench/crash.sh):
	 * the next open removes its temporary file, not a live writer's. */
	{
		pid_t gone = fork();
		char stale[600], live[600];
		if (gone == 0)
			_exit(0);
		waitpid(gone, NULL, 0);
		snprintf(stale, sizeof(stale), "%s/state/last-pulse.json.tmp.%ld.8f3a33d9", dir, (long)gone);
		snprintf(live, sizeof(live), "%s/state/policy-cache.tmp.%ld.0badcafe", dir, (long)getpid());
		write_text(stale, "{");
		write_text(live, "x");
		ae_store_free(st);
		snprintf(path, sizeof(path), "%s/state", dir);
		ae_store_open(ctx, path, true, &st);
		tap_ok(access(stale, F_OK) != 0, "a killed write's temporary file in the state directory is removed at open");
		tap_ok(access(live, F_OK) == 0, "... a running writer's is left to it");
		unlink(live);
		tap_ok(ae_tmp_name_stale("k.key.999999999.tmp") && !ae_tmp_name_stale("k.key") &&
		       !ae_tmp_name_stale("x.tmp") && !ae_tmp_name_stale("a.tmp.b"),
		       "temporary names: both forms, with the writer's pid");
	}

	/* A corrupt record is skipped, logged and left on disk. */
	snprintf(path, sizeof(path), "%s/state/records/ffff.rec", dir);
	write_text(path, "garbage\n");
	snprintf(path, sizeof(path), "%s/state/records/eeee.rec", dir);
	write_text(path, "version = 1\nid = dddd\nstate = issued\n");
	tap_ok(ae_store_load(ctx, st, &recs, &n) == AE_OK && n == 1, "only the good record loads");
	ae_records_free(recs, n);
	snprintf(path, sizeof(path), "%s/state/records/ffff.rec", dir);
	tap_ok(access(path, F_OK) == 0, "the corrupt record is kept for the admin");

	/* Certificates. */
	{
		X509 *x = self_signed();
		r->state = AE_REC_ISSUED;
		tap_ok(ae_store_save_cert(ctx, st, r->id, x, NULL) == AE_OK && ae_store_save(ctx, st, r) == AE_OK,
		       "certificate and record saved");
		ae_store_load(ctx, st, &recs, &n);
		tap_ok(n == 1 && recs[0]->cert != NULL && X509_cmp(recs[0]->cert, x) == 0,
		       "the issued record comes back with its certificate");
		ae_records_free(recs, n);
		X509_free(x);
		tap_ok(ae_store_remove(ctx, st, r->id) == AE_OK, "removed");
		ae_store_load(ctx, st, &recs, &n);
		tap_ok(n == 0, "gone");
		ae_records_free(recs, n);
	}

	/* A directory others can write to is refused. */
	snprintf(path, sizeof(path), "%s/open", dir);
	mkdir(path, 0777);
	chmod(path, 0777);
	ae_store_free(st);
	st = NULL;
	tap_ok(ae_store_open(ctx, path, true, &st) == AE_ERR_DENIED && strstr(ae_get_message(ctx), "writable by others"),
	       "world-writable directory refused: %s", ae_get_message(ctx));

	/* The renewal rule (whitepaper): 1 year with 6 weeks renews 6 weeks
	 * before expiry; a renewal period over 20 % waits for 80 %. */
	{
		int64_t y = 365 * 86400, w6 = 42 * 86400;
		tap_is_int(ae_renewal_due(0, y, w6), y - w6, "1 year, 6 weeks: due 6 weeks before expiry");
		tap_is_int(ae_renewal_due(0, y, 100 * 86400), y / 10 * 8, "100 days is over 20 %%: due at 80 %%");
		tap_is_int(ae_renewal_due(0, 100, 20), 80, "exactly 20 %%: due at 80 %%");
		tap_is_int(ae_renewal_due(0, 100, 0), 80, "no period: 80 %%");
		tap_is_int(ae_renewal_due(1000, 1000, 5), 1000, "zero lifetime: due at once");
	}

	ae_record_free(r);
	ae_store_free(st);
	{
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		system(cmd);
	}
	ae_ctx_free(ctx);
	return tap_done();
}
