/*
 * test-pinentry.c - the PIN dialog: the Assuan response parser on hostile
 * lines, the conversation with a stand-in pinentry (tests/data/
 * pinentry-standin: right PIN, escapes, cancel, garbage, hangs), and the
 * key store asking a SoftHSM2 token's PIN through it (retries, wrong PIN
 * three times, a login needed again for key generation).
 *
 * The SoftHSM2 part skips when SoftHSM2 is not installed.
 */
#include "config.h"

#include "keystore.h"
#include "pinentry.h"
#include "tap.h"
#include "util.h"

#include <errno.h>
#include <openssl/evp.h>
#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SOFTHSM_LIB "/usr/lib/softhsm/libsofthsm2.so"
#define TOKEN "ae-pin"
#define TOKEN_URI "pkcs11:token=" TOKEN ";module-path=" SOFTHSM_LIB

static char tmpdir[] = "/tmp/ae-pinentry-XXXXXX";
static char program[300], logpath[300];
static ae_ctx *ctx;

static bool
contains(const char *s, const char *needle)
{
	return s != NULL && strstr(s, needle) != NULL;
}

static int
count_lines(const char *s, const char *prefix)
{
	int n = 0;
	size_t len = strlen(prefix);

	while (s != NULL && *s != '\0') {
		if (strncmp(s, prefix, len) == 0)
			n++;
		s = strchr(s, '\n');
		if (s != NULL)
			s++;
	}
	return n;
}

/* Configures the stand-in for the next runs (values in single quotes:
 * none of ours has one) and empties its log. */
static void
standin(const char *mode, const char *pins, const char *raw)
{
	char path[400];
	FILE *f;

	snprintf(path, sizeof(path), "%s/standin.env", tmpdir);
	f = fopen(path, "w");
	fprintf(f, "STANDIN_LOG='%s'\nSTANDIN_MODE='%s'\nSTANDIN_PINS='%s'\nSTANDIN_RAW='%s'\n", logpath,
	        mode, pins != NULL ? pins : "1111", raw != NULL ? raw : "");
	fclose(f);
	f = fopen(logpath, "w");
	fclose(f);
}

/* What the stand-in received (caller frees). */
static char *
standin_log(void)
{
	FILE *f = fopen(logpath, "r");
	char *s = calloc(1, 65536);
	size_t n;

	if (f == NULL)
		return s;
	n = fread(s, 1, 65535, f);
	s[n] = '\0';
	fclose(f);
	return s;
}

/* No child left behind: neither running nor a zombie. */
static bool
no_children(void)
{
	return waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static ae_err
ask(const char *token, const char *error, char *pin, size_t size)
{
	return ae_pinentry_prompt(ctx, program, token, error, pin, size);
}

/* ---- the parser on hostile lines ---- */

static ae_err
parse(const char *line, size_t len, ae_assuan_kind *kind, unsigned long *code, char *data,
      size_t size, size_t *data_len)
{
	return ae_pinentry_parse_line(ctx, line, len, kind, code, data, size, data_len);
}
#define PARSE(s, kind, code, data, size, dlen) parse(s, strlen(s), kind, code, data, size, dlen)

static void
test_parser(void)
{
	char data[8], big[1100];
	size_t dlen = 0;
	unsigned long code = 7;
	ae_assuan_kind kind;
	ae_err err;

	tap_ok(PARSE("OK", &kind, &code, NULL, 0, &dlen) == AE_OK && kind == AE_ASSUAN_OK, "OK");
	tap_ok(PARSE("OK Pleased to meet you", &kind, &code, NULL, 0, &dlen) == AE_OK &&
	       kind == AE_ASSUAN_OK, "OK with text");
	tap_ok(PARSE("OKAY", &kind, &code, NULL, 0, &dlen) == AE_ERR_INVALID, "OKAY is no OK");
	tap_ok(PARSE("ERR 83886179 Operation cancelled <Pinentry>", &kind, &code, NULL, 0, &dlen) == AE_OK &&
	       kind == AE_ASSUAN_ERR && code == 83886179UL, "ERR with code and text");
	tap_ok(PARSE("ERR 4294967295", &kind, &code, NULL, 0, &dlen) == AE_OK && code == 4294967295UL,
	       "ERR code of 32 bits");
	tap_ok(PARSE("ERR 4294967296", &kind, &code, NULL, 0, &dlen) == AE_ERR_INVALID,
	       "ERR code beyond 32 bits: %s", ae_get_message(ctx));
	tap_ok(PARSE("ERR", &kind, &code, NULL, 0, &dlen) == AE_ERR_INVALID &&
	       PARSE("ERR x", &kind, &code, NULL, 0, &dlen) == AE_ERR_INVALID &&
	       PARSE("ERR 12x", &kind, &code, NULL, 0, &dlen) == AE_ERR_INVALID, "ERR without a number");
	tap_ok(PARSE("S PASSWORD_FROM_CACHE", &kind, &code, NULL, 0, &dlen) == AE_OK &&
	       kind == AE_ASSUAN_SKIP && PARSE("# hello", &kind, &code, NULL, 0, &dlen) == AE_OK &&
	       kind == AE_ASSUAN_SKIP && PARSE("S", &kind, &code, NULL, 0, &dlen) == AE_OK,
	       "status and comment lines are skipped");
	tap_ok(PARSE("INQUIRE QUALITY abc", &kind, &code, NULL, 0, &dlen) == AE_ERR_INVALID &&
	       PARSE("END", &kind, &code, NULL, 0, &dlen) == AE_ERR_INVALID &&
	       PARSE("", &kind, &code, NULL, 0, &dlen) == AE_ERR_INVALID &&
	       PARSE("D1", &kind, &code, NULL, 0, &dlen) == AE_ERR_INVALID,
	       "INQUIRE, END, an empty line, D1 are refused");
	tap_ok(parse("OK\0hidden", 9, &kind, &code, NULL, 0, &dlen) == AE_ERR_INVALID &&
	       contains(ae_get_message(ctx), "NUL"), "a NUL byte in a line: %s", ae_get_message(ctx));
	memset(big, 'O', sizeof(big));
	big[0] = 'O', big[1] = 'K', big[2] = ' ';
	tap_ok(parse(big, 1000, &kind, &code, NULL, 0, &dlen) == AE_OK &&
	       parse(big, 1001, &kind, &code, NULL, 0, &dlen) == AE_ERR_INVALID,
	       "1000 bytes is a line, 1001 is not: %s", ae_get_message(ctx));

	dlen = 0;
	err = PARSE("D a%25b", &kind, &code, data, sizeof(data), &dlen);
	err = err ? err : PARSE("D %0Ac", &kind, &code, data, sizeof(data), &dlen);
	tap_ok(err == AE_OK && kind == AE_ASSUAN_DATA && dlen == 5 && memcmp(data, "a%b\nc", 6) == 0,
	       "D lines: %%25 and %%0A unescaped and joined");
	dlen = 0;
	tap_ok(PARSE("D %4", &kind, &code, data, sizeof(data), &dlen) == AE_ERR_INVALID &&
	       PARSE("D %", &kind, &code, data, sizeof(data), &dlen) == AE_ERR_INVALID &&
	       PARSE("D %G1", &kind, &code, data, sizeof(data), &dlen) == AE_ERR_INVALID,
	       "truncated and non-hex escapes: %s", ae_get_message(ctx));
	dlen = 0;
	tap_ok(PARSE("D a%00b", &kind, &code, data, sizeof(data), &dlen) == AE_ERR_INVALID &&
	       contains(ae_get_message(ctx), "NUL"), "%%00: %s", ae_get_message(ctx));
	dlen = 0;
	tap_ok(PARSE("D a\rb", &kind, &code, data, sizeof(data), &dlen) == AE_ERR_INVALID,
	       "a raw CR in data: %s", ae_get_message(ctx));
	dlen = 0;
	tap_ok(PARSE("D 1234567", &kind, &code, data, sizeof(data), &dlen) == AE_OK && dlen == 7 &&
	       PARSE("D 8", &kind, &code, data, sizeof(data), &dlen) == AE_ERR_INVALID &&
	       contains(ae_get_message(ctx), "more than 7 bytes") && strlen(data) < sizeof(data),
	       "data beyond the buffer: %s", ae_get_message(ctx));
	dlen = 0;
	tap_ok(PARSE("D", &kind, &code, data, sizeof(data), &dlen) == AE_OK && kind == AE_ASSUAN_DATA &&
	       dlen == 0, "an empty D line");
	dlen = 0;
	tap_ok(PARSE("D secret42", &kind, &code, data, 4, &dlen) == AE_ERR_INVALID &&
	       !contains(ae_get_message(ctx), "secret"), "messages never quote data");
}

/* ---- the conversation, with the stand-in ---- */

static void
test_conversation(void)
{
	char pin[256], small[4], *log;
	double t0;
	ae_err err;

	standin("ok", "1111", NULL);
	err = ask("My Card", NULL, pin, sizeof(pin));
	log = standin_log();
	tap_ok(err == AE_OK, "the PIN comes back: %s", err ? ae_get_message(ctx) : "ok");
	tap_is_str(pin, "1111", "it is the PIN the stand-in gave");
	tap_ok(contains(log, "SETTITLE autoenroll\n") && contains(log, "SETPROMPT PIN:\n") &&
	       count_lines(log, "GETPIN") == 1 && count_lines(log, "BYE") == 1,
	       "SETTITLE, SETPROMPT, GETPIN, BYE sent");
	tap_ok(count_lines(log, "SETDESC ") == 1 && contains(log, "your token \"My Card\"") &&
	       count_lines(log, "SETERROR") == 0, "SETDESC names the token; no SETERROR on a first try");
	tap_ok(contains(log, "SETTIMEOUT 300\n"), "pinentry is told it has 300 s");
	tap_ok(no_children(), "pinentry reaped");
	free(log);

	/* %, newline and control characters in what we send are escaped. */
	standin("ok", "1111", NULL);
	err = ask("50% off\n\"x\"\033", "Wrong PIN, 2 tries left.", pin, sizeof(pin));
	log = standin_log();
	tap_ok(err == AE_OK && contains(log, "your token \"50%25 off%0A\"x\"%1B\" for the keys") &&
	       contains(log, "certificates.%0A%0AThe PIN") && count_lines(log, "SETDESC") == 1,
	       "SETDESC escapes %%, LF and ESC and stays one line");
	tap_ok(contains(log, "SETERROR Wrong PIN, 2 tries left.\n"), "a retry shows SETERROR");
	free(log);

	standin("raw", NULL, "a%25b%0Ac%0d");
	err = ask("t", NULL, pin, sizeof(pin));
	tap_ok(err == AE_OK && strcmp(pin, "a%b\nc\r") == 0, "%%25, %%0A, %%0d unescaped in the PIN");
	standin("multi", NULL, NULL);
	err = ask("t", NULL, pin, sizeof(pin));
	tap_ok(err == AE_OK && strcmp(pin, "1111") == 0,
	       "status and comment lines skipped, D lines joined: %s", err ? ae_get_message(ctx) : pin);
	standin("raw", NULL, "");
	err = ask("t", NULL, pin, sizeof(pin));
	tap_ok(err == AE_OK && pin[0] == '\0', "no PIN entered: an empty one");
	standin("no-bye", NULL, NULL);
	err = ask("t", NULL, pin, sizeof(pin));
	tap_ok(err == AE_OK && strcmp(pin, "1111") == 0 && no_children(),
	       "a pinentry gone before answering BYE: the PIN counts");

	standin("cancel", NULL, NULL);
	strcpy(pin, "junk");
	err = ask("My Card", NULL, pin, sizeof(pin));
	tap_ok(err == AE_ERR_NEEDPIN && contains(ae_get_message(ctx), "cancelled") &&
	       contains(ae_get_message(ctx), "\"My Card\"") && pin[0] == '\0',
	       "cancel: %s", ae_get_message(ctx));
	standin("ptimeout", NULL, NULL);
	err = ask("My Card", NULL, pin, sizeof(pin));
	tap_ok(err == AE_ERR_TIMEOUT && contains(ae_get_message(ctx), "GETPIN"),
	       "pinentry's own timeout: %s", ae_get_message(ctx));
	standin("tty", NULL, NULL);
	err = ask("My Card", NULL, pin, sizeof(pin));
	tap_ok(err == AE_ERR_IO && contains(ae_get_message(ctx), "Inappropriate ioctl"),
	       "pinentry cannot show the dialog: %s", ae_get_message(ctx));
	standin("refuse-desc", NULL, NULL);
	err = ask("My Card", NULL, pin, sizeof(pin));
	tap_ok(err == AE_ERR_INVALID && contains(ae_get_message(ctx), "refused SETDESC"),
	       "SETDESC refused: %s", ae_get_message(ctx));

	standin("garbage", "secret42", NULL);
	err = ask("t", NULL, pin, sizeof(pin));
	tap_ok(err == AE_ERR_INVALID && contains(ae_get_message(ctx), "bad answer to GETPIN") &&
	       !contains(ae_get_message(ctx), "secret42") && pin[0] == '\0',
	       "garbage: %s", ae_get_message(ctx));
	standin("long", NULL, NULL);
	err = ask("t", NULL, pin, sizeof(pin));
	tap_ok(err == AE_ERR_INVALID && contains(ae_get_message(ctx), "longer than 1000 bytes") &&
	       pin[0] == '\0', "overlong line: %s", ae_get_message(ctx));
	standin("bigpin", NULL, NULL);
	err = ask("t", NULL, pin, sizeof(pin));
	tap_ok(err == AE_ERR_INVALID && contains(ae_get_message(ctx), "more than 255 bytes") &&
	       pin[0] == '\0', "a PIN beyond the buffer: %s", ae_get_message(ctx));
	standin("ok", "1111", NULL);
	err = ask("t", NULL, small, sizeof(small));
	tap_ok(err == AE_ERR_INVALID && small[0] == '\0', "a PIN beyond a small buffer, wiped");
	standin("exit", NULL, NULL);
	err = ask("t", NULL, pin, sizeof(pin));
	tap_ok(err == AE_ERR_IO && contains(ae_get_message(ctx), "ended during GETPIN (exit status 3)"),
	       "pinentry ends at GETPIN: %s", ae_get_message(ctx));
	tap_ok(no_children(), "every pinentry reaped");

	/* A hanging pinentry, with timeouts a test can wait for. */
	ae_pinentry_set_timeouts(300, 400);
	standin("hang", NULL, NULL);
	t0 = now();
	err = ask("My Card", NULL, pin, sizeof(pin));
	tap_ok(err == AE_ERR_TIMEOUT && contains(ae_get_message(ctx), "GETPIN within 0.4 s") &&
	       contains(ae_get_message(ctx), "\"My Card\""), "hang at GETPIN: %s", ae_get_message(ctx));
	tap_ok(now() - t0 < 3.0 && no_children(), "killed and reaped (%.2f s)", now() - t0);
	standin("hang-greeting", NULL, NULL);
	t0 = now();
	err = ask("My Card", NULL, pin, sizeof(pin));
	tap_ok(err == AE_ERR_TIMEOUT && contains(ae_get_message(ctx), "the greeting within 0.3 s"),
	       "hang before the greeting: %s", ae_get_message(ctx));
	tap_ok(now() - t0 < 3.0 && no_children(), "killed and reaped (%.2f s)", now() - t0);
	ae_pinentry_set_timeouts(0, 0);

	err = ae_pinentry_prompt(ctx, "pinentry", "t", NULL, pin, sizeof(pin));
	tap_ok(err == AE_ERR_CONFIG && contains(ae_get_message(ctx), "absolute"),
	       "relative program: %s", ae_get_message(ctx));
	err = ae_pinentry_prompt(ctx, "/nonexistent/pinentry", "t", NULL, pin, sizeof(pin));
	tap_ok(err == AE_ERR_CONFIG && contains(ae_get_message(ctx), "/nonexistent/pinentry"),
	       "missing program: %s", ae_get_message(ctx));
	err = ae_pinentry_prompt(ctx, "/bin/true", "t", NULL, pin, sizeof(pin));
	tap_ok(err == AE_ERR_IO && contains(ae_get_message(ctx), "ended during the greeting") &&
	       no_children(), "not a pinentry: %s", ae_get_message(ctx));
}

/* ---- the key store asking through the stand-in ---- */

static ae_key *
gen_key(ae_keystore *ks)
{
	char *id = ae_keystore_new_id();
	ae_keygen g = { AE_KEY_ALG_ECDSA_P256, 0, AE_KEY_LABEL_PREFIX "pinentry test", id, false };
	ae_key *key = NULL;

	if (ae_keystore_generate(ctx, ks, &g, &key) != AE_OK)
		tap_diag("generate: %s", ae_get_message(ctx));
	free(id);
	return key;
}

static bool
signs(ae_key *key)
{
	static const unsigned char msg[] = "to be signed";
	unsigned char sig[256];
	size_t len = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok = md != NULL && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, ae_key_evp(key)) == 1 &&
	          EVP_DigestSign(md, sig, &len, msg, sizeof(msg)) == 1;

	EVP_MD_CTX_free(md);
	return ok;
}

/* Logs the whole application out of the token, from a session of our
 * own: what another user of the module in the process could do. */
static bool
logout_elsewhere(void)
{
	CK_FUNCTION_LIST *m = p11_kit_module_load(SOFTHSM_LIB, 0);
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16, i;
	CK_SESSION_HANDLE s;
	bool ok = false;

	if (m == NULL || p11_kit_module_initialize(m) != CKR_OK)
		goto out;
	if (m->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		goto fin;
	for (i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		if (m->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    p11_kit_space_strlen(ti.label, sizeof(ti.label)) == strlen(TOKEN) &&
		    memcmp(ti.label, TOKEN, strlen(TOKEN)) == 0)
			break;
	}
	if (i < n && m->C_OpenSession(slots[i], CKF_SERIAL_SESSION, NULL, NULL, &s) == CKR_OK) {
		ok = m->C_Logout(s) == CKR_OK;
		m->C_CloseSession(s);
	}
fin:
	p11_kit_module_finalize(m);
out:
	if (m != NULL)
		p11_kit_module_release(m);
	return ok;
}

static void
test_keystore(void)
{
	ae_keystore *ks = NULL;
	ae_key *key = NULL;
	char *log;
	ae_err err;

	err = ae_keystore_open(ctx, TOKEN_URI, &ks);
	tap_ok(err == AE_ERR_NEEDPIN && ks == NULL, "no prompt: needs a PIN, as before: %s",
	       ae_get_message(ctx));
	err = ae_keystore_open_prompt(ctx, TOKEN_URI, NULL, NULL, &ks);
	tap_ok(err == AE_ERR_NEEDPIN && ks == NULL, "a NULL prompt is no prompt");

	standin("ok", "1111", NULL);
	err = ae_keystore_open_prompt(ctx, TOKEN_URI, ae_pinentry_prompt, program, &ks);
	log = standin_log();
	tap_ok(err == AE_OK, "the PIN from pinentry opens the token: %s", err ? ae_get_message(ctx) : "ok");
	tap_ok(count_lines(log, "GETPIN") == 1 && count_lines(log, "SETERROR") == 0 &&
	       contains(log, "your token \"" TOKEN "\""), "asked once, for " TOKEN);
	free(log);
	if (ks != NULL) {
		key = gen_key(ks);
		tap_ok(key != NULL && signs(key), "a key generated on the token signs");
		if (key != NULL)
			ae_keystore_delete(ctx, ks, ae_key_id(key));
		ae_key_free(key);
		key = NULL;

		/* The login ends under us: generation asks again. */
		standin("ok", "1111", NULL);
		tap_ok(logout_elsewhere(), "logged out from another session");
		key = gen_key(ks);
		log = standin_log();
		tap_ok(key != NULL && count_lines(log, "GETPIN") == 1,
		       "key generation logs in again through pinentry");
		free(log);
		if (key != NULL)
			ae_keystore_delete(ctx, ks, ae_key_id(key));
		ae_key_free(key);
		key = NULL;
	}
	ae_keystore_free(ks);
	ks = NULL;

	standin("ok", "9999 1111", NULL);
	err = ae_keystore_open_prompt(ctx, TOKEN_URI, ae_pinentry_prompt, program, &ks);
	log = standin_log();
	tap_ok(err == AE_OK, "a wrong PIN, then the right one: %s", err ? ae_get_message(ctx) : "ok");
	tap_ok(count_lines(log, "GETPIN") == 2 && count_lines(log, "SETERROR") == 1 &&
	       contains(log, "SETERROR Wrong PIN, 2 tries left."), "the retry says why");
	free(log);
	ae_keystore_free(ks);
	ks = NULL;

	standin("ok", "9999", NULL);
	err = ae_keystore_open_prompt(ctx, TOKEN_URI, ae_pinentry_prompt, program, &ks);
	log = standin_log();
	tap_ok(err == AE_ERR_DENIED && ks == NULL && contains(ae_get_message(ctx), "wrong PIN") &&
	       contains(ae_get_message(ctx), "3 tries") && contains(ae_get_message(ctx), TOKEN) &&
	       !contains(ae_get_message(ctx), "9999"), "always wrong: %s", ae_get_message(ctx));
	tap_ok(count_lines(log, "GETPIN") == 3 && count_lines(log, "SETERROR") == 2 &&
	       contains(log, "SETERROR Wrong PIN, 1 try left."), "asked 3 times, never more");
	free(log);

	standin("raw", NULL, "");
	err = ae_keystore_open_prompt(ctx, TOKEN_URI, ae_pinentry_prompt, program, &ks);
	log = standin_log();
	tap_ok(err == AE_ERR_NEEDPIN && contains(ae_get_message(ctx), "no PIN was entered") &&
	       contains(log, "SETERROR No PIN entered, 2 tries left."), "no PIN entered 3 times: %s",
	       ae_get_message(ctx));
	free(log);

	standin("cancel", NULL, NULL);
	err = ae_keystore_open_prompt(ctx, TOKEN_URI, ae_pinentry_prompt, program, &ks);
	tap_ok(err == AE_ERR_NEEDPIN && ks == NULL && contains(ae_get_message(ctx), "cancelled"),
	       "cancelled: %s", ae_get_message(ctx));

	/* Our tries did not lock the token (SoftHSM2 has no counter, but
	 * check that the right PIN still works). */
	err = ae_keystore_open(ctx, TOKEN_URI ";pin-value=1111", &ks);
	tap_ok(err == AE_OK, "the token still takes its PIN: %s", err ? ae_get_message(ctx) : "ok");
	ae_keystore_free(ks);
	tap_ok(no_children(), "every pinentry reaped");
}

int
main(void)
{
	char path[400], cmd[1024];
	FILE *in, *out;
	int rc, ch;

	if (mkdtemp(tmpdir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	/* A copy of the stand-in next to its standin.env (pinentry runs with
	 * a cleaned environment, so the configuration goes through a file). */
	snprintf(program, sizeof(program), "%s/pinentry", tmpdir);
	snprintf(logpath, sizeof(logpath), "%s/received", tmpdir);
	snprintf(path, sizeof(path), "%s/tests/data/pinentry-standin", SRCDIR);
	in = fopen(path, "r");
	out = fopen(program, "w");
	if (in == NULL || out == NULL) {
		printf("Bail out! cannot copy %s to %s\n", path, program);
		return 1;
	}
	while ((ch = getc(in)) != EOF)
		putc(ch, out);
	fclose(in);
	fclose(out);
	chmod(program, 0755);

	ctx = ae_ctx_new();
	test_parser();
	test_conversation();

	if (access(SOFTHSM_LIB, R_OK) != 0 || system("command -v softhsm2-util >/dev/null 2>&1") != 0) {
		tap_diag("SoftHSM2 (%s, softhsm2-util) is not installed: key store tests skipped",
		         SOFTHSM_LIB);
	} else {
		snprintf(path, sizeof(path), "%s/softhsm2.conf", tmpdir);
		snprintf(cmd, sizeof(cmd), "%s/tokens", tmpdir);
		mkdir(cmd, 0700);
		out = fopen(path, "w");
		fprintf(out, "directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
		             "log.level = ERROR\nslots.removable = false\n", tmpdir);
		fclose(out);
		setenv("SOFTHSM2_CONF", path, 1);
		snprintf(cmd, sizeof(cmd), "softhsm2-util --init-token --free --label " TOKEN " "
		                           "--so-pin 1234 --pin 1111 >%s/init.log 2>&1", tmpdir);
		if (system(cmd) != 0) {
			printf("Bail out! softhsm2-util --init-token failed (see %s/init.log)\n", tmpdir);
			return 1;
		}
		test_keystore();
	}

	ae_ctx_free(ctx);
	rc = tap_done();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return rc;
}
