/*
 * test-icpr.c - CertServerRequest NDR (the worked example of the protocol
 * brief, byte for byte), defensive decoding of answers, HRESULT names and
 * explanations, and submit/retrieve against a stand-in server over a
 * socketpair (unauthenticated: the sealing is covered by test-rpc).
 */
#include "config.h"

#include "hresult.h"
#include "icpr.h"
#include "tap.h"

#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static const uint8_t worked[112] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x03, 0x00, 0x00, 0x00, 0x43, 0x00, 0x41, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x32, 0x00, 0x00, 0x00, 0x04, 0x00, 0x02, 0x00, 0x32, 0x00, 0x00, 0x00, 0x43, 0x00, 0x65, 0x00,
	0x72, 0x00, 0x74, 0x00, 0x69, 0x00, 0x66, 0x00, 0x69, 0x00, 0x63, 0x00, 0x61, 0x00, 0x74, 0x00,
	0x65, 0x00, 0x54, 0x00, 0x65, 0x00, 0x6d, 0x00, 0x70, 0x00, 0x6c, 0x00, 0x61, 0x00, 0x74, 0x00,
	0x65, 0x00, 0x3a, 0x00, 0x55, 0x00, 0x73, 0x00, 0x65, 0x00, 0x72, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x04, 0x00, 0x00, 0x00, 0x08, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x30, 0x82, 0x01, 0x00,
};

static void
put32(ae_buf *b, uint32_t v)
{
	uint8_t t[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	ae_buf_append(b, t, 4);
}

static void
blob(ae_buf *b, const void *data, size_t len, uint32_t ref)
{
	put32(b, (uint32_t)len);
	put32(b, data != NULL ? ref : 0);
	if (data == NULL)
		return;
	put32(b, (uint32_t)len);
	ae_buf_append(b, data, len);
	ae_buf_append(b, "\0\0\0", (4 - len % 4) % 4);
}

/* A UTF-16LE copy of ASCII S with its NUL. */
static size_t
u16(const char *s, uint8_t *out)
{
	size_t n = 0;
	for (; *s; s++) {
		out[n++] = (uint8_t)*s;
		out[n++] = 0;
	}
	out[n++] = 0;
	out[n++] = 0;
	return n;
}

/* An issued answer: id 12, chain 5 bytes, cert 4 bytes, message "Issued". */
static void
make_issued(ae_buf *b)
{
	uint8_t msg[64];
	size_t ml = u16("Issued", msg);
	put32(b, 12);
	put32(b, 3);
	blob(b, "\x30\x03\x02\x01\x07", 5, 0x20000);
	blob(b, "\x30\x02\x05\x00", 4, 0x20004);
	blob(b, msg, ml, 0x20008);
	put32(b, 0);
}

static void
test_encode(ae_ctx *ctx)
{
	uint8_t *stub = NULL;
	size_t len = 0;
	static const uint8_t retr[] = {
		0, 0, 0, 0, 0, 0, 2, 0, 3, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 'C', 0, 'A', 0, 0, 0, 0, 0,
		42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	};

	tap_is_int(ae_icpr_encode(ctx, 0, "CA", 0, "CertificateTemplate:User", (const uint8_t *)"\x30\x82\x01\x00", 4,
	                          &stub, &len), AE_OK, "encode: worked example");
	tap_ok(len == sizeof(worked) && memcmp(stub, worked, len) == 0, "encode: 112 bytes, byte for byte (got %zu)", len);
	if (len != sizeof(worked) || memcmp(stub, worked, sizeof(worked)) != 0)
		for (size_t i = 0; i < len && i < sizeof(worked); i++)
			if (stub[i] != worked[i])
				tap_diag("  first difference at %zu: %02x != %02x", i, stub[i], worked[i]);
	free(stub);

	tap_is_int(ae_icpr_encode(ctx, 0, "CA", 42, NULL, NULL, 0, &stub, &len), AE_OK, "encode: retrieval");
	tap_ok(len == sizeof(retr) && memcmp(stub, retr, len) == 0, "encode: retrieval has id 42, empty blobs with NULL pointers");
	free(stub);

	tap_is_int(ae_icpr_encode(ctx, 0, NULL, 0, "", (const uint8_t *)"\x30", 1, &stub, &len), AE_OK,
	           "encode: no authority, no attributes");
	tap_ok(len == 4 + 4 + 4 + 8 + 8 + 4 + 4 && stub[4] == 0 && stub[20] == 1 && stub[26] == 2,
	       "encode: NULL authority, first referent 0x20000 goes to the request");
	free(stub);

	tap_is_int(ae_icpr_encode(ctx, 0, "CA", 0, "SAN:upn=\xc3\xa9\xf0\x9f\x98\x80", (const uint8_t *)"\x30", 1, &stub, &len),
	           AE_OK, "encode: non-ASCII attributes");
	/* "SAN:upn=" 8 units + é 1 + U+1F600 2 + NUL 1 = 12 units = 24 bytes */
	tap_ok(stub[32] == 24 && stub[40] == 24 && stub[44 + 16] == 0xe9 && stub[44 + 18] == 0x3d && stub[44 + 19] == 0xd8 &&
	       stub[44 + 20] == 0x00 && stub[44 + 21] == 0xde, "encode: UTF-16 with a surrogate pair, cb includes NUL");
	free(stub);

	tap_is_int(ae_icpr_encode(ctx, 0, "CA", 0, "bad\xc0\xaf", NULL, 0, &stub, &len), AE_ERR_INVALID,
	           "encode: overlong UTF-8 rejected");
	tap_is_int(ae_icpr_encode(ctx, 0, "C\xed\xa0\x80", 0, NULL, NULL, 0, &stub, &len), AE_ERR_INVALID,
	           "encode: UTF-8 surrogate rejected");
	tap_ok(stub == NULL && len == 0, "encode: outputs cleared on error");
}

static void
test_decode(ae_ctx *ctx)
{
	ae_buf b;
	ae_icpr_result r;
	bool all = true;

	ae_buf_init(&b);
	make_issued(&b);
	tap_is_int(ae_icpr_decode(ctx, (uint8_t *)b.data, b.len, &r), AE_OK, "decode: issued");
	tap_ok(r.request_id == 12 && r.disposition == AE_CR_DISP_ISSUED && r.status == 0, "decode: id, disposition, status");
	tap_ok(r.chain_len == 5 && memcmp(r.chain, "\x30\x03\x02\x01\x07", 5) == 0 &&
	       r.cert_len == 4 && memcmp(r.cert, "\x30\x02\x05\x00", 4) == 0, "decode: chain and certificate");
	tap_is_str(r.message, "Issued", "decode: message as UTF-8");
	ae_icpr_result_clear(&r);
	for (size_t cut = 0; cut < b.len; cut++) {
		uint8_t *copy = malloc(cut + 1);
		memcpy(copy, b.data, cut);
		if (ae_icpr_decode(ctx, copy, cut, &r) == AE_OK) {
			all = false;
			tap_diag("truncation at %zu accepted", cut);
		}
		if (r.cert != NULL || r.chain != NULL || r.message != NULL)
			all = false;
		free(copy);
	}
	tap_ok(all, "decode: all %zu truncations rejected, nothing left allocated", b.len);
	/* trailing garbage */
	ae_buf_append(&b, "\x01", 1);
	tap_is_int(ae_icpr_decode(ctx, (uint8_t *)b.data, b.len, &r), AE_ERR_INVALID, "decode: trailing byte rejected");
	ae_buf_clear(&b);

	/* pending */
	{
		uint8_t msg[128];
		size_t ml = u16("Taken Under Submission\r\n", msg);
		put32(&b, 42);
		put32(&b, 5);
		blob(&b, NULL, 0, 0);
		blob(&b, NULL, 0, 0);
		blob(&b, msg, ml, 0x20000);
		put32(&b, 0);
		tap_ok(ae_icpr_decode(ctx, (uint8_t *)b.data, b.len, &r) == AE_OK && r.request_id == 42 &&
		       r.disposition == AE_CR_DISP_UNDER_SUBMISSION && r.cert == NULL && r.chain == NULL,
		       "decode: pending with request id");
		tap_is_str(r.message, "Taken Under Submission", "decode: CR LF dropped at the end");
		ae_icpr_result_clear(&r);
		ae_buf_clear(&b);
	}
	/* HRESULT */
	{
		uint8_t msg[256];
		size_t ml = u16("Denied by Policy Module  0x80094800, The request was for a certificate template that is not supported", msg);
		put32(&b, 43);
		put32(&b, 0x80094800u);
		blob(&b, NULL, 0, 0);
		blob(&b, NULL, 0, 0);
		blob(&b, msg, ml, 0x20000);
		put32(&b, 0);
		tap_ok(ae_icpr_decode(ctx, (uint8_t *)b.data, b.len, &r) == AE_OK && r.disposition == 0x80094800u &&
		       r.message != NULL && strstr(r.message, "0x80094800") != NULL, "decode: HRESULT disposition");
		tap_ok(ae_icpr_disposition_name(r.disposition) == NULL && strcmp(ae_icpr_disposition_name(3), "issued") == 0,
		       "decode: disposition names");
		ae_icpr_result_clear(&r);
		ae_buf_clear(&b);
	}
	/* malformed */
	{
		uint8_t m[64];
		size_t n;
		const uint8_t bad_surrogate[] = { 'A', 0, 0x00, 0xd8, 'B', 0, 0, 0 };
		const uint8_t pair[] = { 0x3d, 0xd8, 0x00, 0xde, 0x07, 0, 0, 0 };

		put32(&b, 1); put32(&b, 3);
		put32(&b, 4); put32(&b, 0x20000); put32(&b, 5); ae_buf_append(&b, "\x30\x02\x05\x00\0\0\0\0", 8);
		blob(&b, NULL, 0, 0); blob(&b, NULL, 0, 0); put32(&b, 0);
		tap_is_int(ae_icpr_decode(ctx, (uint8_t *)b.data, b.len, &r), AE_ERR_INVALID, "decode: conformance != cb rejected");
		tap_ok(strstr(ae_get_message(ctx), "conformance") != NULL, "decode: message names it (%s)", ae_get_message(ctx));
		ae_buf_clear(&b);

		put32(&b, 1); put32(&b, 3);
		put32(&b, 4); put32(&b, 0);
		blob(&b, NULL, 0, 0); blob(&b, NULL, 0, 0); put32(&b, 0);
		tap_is_int(ae_icpr_decode(ctx, (uint8_t *)b.data, b.len, &r), AE_ERR_INVALID, "decode: cb without pointer rejected");
		ae_buf_clear(&b);

		put32(&b, 1); put32(&b, 3);
		put32(&b, 0xfffffff0u); put32(&b, 0x20000); put32(&b, 0xfffffff0u);
		tap_is_int(ae_icpr_decode(ctx, (uint8_t *)b.data, b.len, &r), AE_ERR_INVALID, "decode: huge cb rejected");
		ae_buf_clear(&b);

		put32(&b, 1); put32(&b, 2);
		blob(&b, NULL, 0, 0); blob(&b, NULL, 0, 0); blob(&b, bad_surrogate, sizeof(bad_surrogate), 0x20000); put32(&b, 0);
		tap_is_int(ae_icpr_decode(ctx, (uint8_t *)b.data, b.len, &r), AE_ERR_INVALID, "decode: unpaired surrogate rejected");
		tap_ok(strstr(ae_get_message(ctx), "surrogate") != NULL, "decode: message says so");
		ae_buf_clear(&b);

		put32(&b, 1); put32(&b, 2);
		blob(&b, NULL, 0, 0); blob(&b, NULL, 0, 0); blob(&b, pair, sizeof(pair), 0x20000); put32(&b, 0);
		tap_ok(ae_icpr_decode(ctx, (uint8_t *)b.data, b.len, &r) == AE_OK && r.message != NULL &&
		       strcmp(r.message, "\xf0\x9f\x98\x80") == 0,
		       "decode: surrogate pair to 4-byte UTF-8, control character dropped at the end");
		ae_icpr_result_clear(&r);
		ae_buf_clear(&b);

		put32(&b, 1); put32(&b, 2);
		blob(&b, NULL, 0, 0); blob(&b, NULL, 0, 0); blob(&b, "abc", 3, 0x20000); put32(&b, 0);
		tap_is_int(ae_icpr_decode(ctx, (uint8_t *)b.data, b.len, &r), AE_ERR_INVALID, "decode: odd-length message rejected");
		ae_buf_clear(&b);

		n = 0;
		memset(m, 0, sizeof(m));
		tap_is_int(ae_icpr_decode(ctx, m, n, &r), AE_ERR_INVALID, "decode: empty stub rejected");
	}
}

static void
test_hresult(void)
{
	char *s;

	tap_is_str(ae_hresult_name(0x80094800u), "CERTSRV_E_UNSUPPORTED_CERT_TYPE", "hresult: name 0x80094800");
	tap_is_str(ae_hresult_name(0x80094012u), "CERTSRV_E_TEMPLATE_DENIED", "hresult: name 0x80094012");
	tap_is_str(ae_hresult_name(0x800706BAu), "RPC_S_SERVER_UNAVAILABLE", "hresult: name 0x800706BA");
	tap_is_str(ae_hresult_name(0x80070721u), "RPC_S_SEC_PKG_ERROR", "hresult: name 0x80070721");
	tap_is_str(ae_hresult_name(0x1c010002u), "nca_s_op_rng_error", "hresult: nca_s_op_rng_error");
	tap_is_str(ae_hresult_name(0x1c010003u), "nca_s_unk_if", "hresult: nca_s_unk_if");
	tap_is_str(ae_hresult_name(5), "ERROR_ACCESS_DENIED", "hresult: 5");
	tap_is_str(ae_hresult_name(0x80090324u), "SEC_E_TIME_SKEW", "hresult: SEC_E_TIME_SKEW");
	tap_is_str(ae_hresult_name(0x80000009u), "E_ACCESSDENIED", "hresult: 0x80000009");
	tap_is_str(ae_hresult_name(0x16c9a0d6u), "EPT_S_NOT_REGISTERED", "hresult: EPT_S_NOT_REGISTERED");
	tap_ok(ae_hresult_name(0x12345678u) == NULL, "hresult: unknown is NULL");
	tap_is_str(ae_hresult_name(0x80070520u), "ERROR_NO_SUCH_LOGON_SESSION", "hresult: 0x80070520");
	tap_is_str(ae_hresult_name(0x8007203Au), "ERROR_DS_SERVER_DOWN", "hresult: 0x8007203A");
	s = ae_hresult_explain(0x80070520u, NULL, NULL, "WS1$");
	tap_ok(s != NULL && strstr(s, "keytab") != NULL && strstr(s, "autoenroll diagnose") != NULL,
	       "explain: 0x80070520 names the keytab and diagnose (%s)", s);
	free(s);
	tap_ok(ae_hresult_of_policy_failure(AE_ERR_KERBEROS, "cannot get a ticket: Preauthentication failed") == 0x80070520u &&
	       ae_hresult_of_policy_failure(AE_ERR_KERBEROS, "Clock skew too great") == 0x80090324u &&
	       ae_hresult_of_policy_failure(AE_ERR_TIMEOUT, "did not answer") == 0x8007203Au &&
	       ae_hresult_of_policy_failure(AE_ERR_NETWORK, "no domain controller found for x") == 0x8007054Bu &&
	       ae_hresult_of_policy_failure(AE_ERR_IO, "disk") == 0,
	       "policy failures: the HRESULTs Windows logs with events 67, 68, 70 and 6");
	{
		static const uint32_t listed[] = {
			0x80094012, 0x80094011, 0x80094800, 0x80094801, 0x80094803, 0x80094804, 0x8009480A,
			0x8009480D, 0x8009480F, 0x80094811, 0x8009400C, 0x8009400E, 0x80094004, 0x80094014,
		};
		bool all = true;
		for (size_t i = 0; i < sizeof(listed) / sizeof(listed[0]); i++)
			if (ae_hresult_name(listed[i]) == NULL)
				all = false;
		tap_ok(all, "hresult: every code of the protocol brief's table is named");
	}

	s = ae_hresult_explain(0x80094800u, "Workstation", "corp-CA", "CORP\\alice");
	tap_ok(s != NULL && strstr(s, "template Workstation is not published on CA corp-CA") != NULL,
	       "explain: unsupported cert type (%s)", s);
	free(s);
	s = ae_hresult_explain(0x80094012u, "User", "corp-CA", "CORP\\alice");
	tap_ok(s != NULL && strstr(s, "CORP\\alice has no Enroll right on template User") != NULL,
	       "explain: template denied (%s)", s);
	free(s);
	s = ae_hresult_explain(0x80070005u, "User", "corp-CA", "CORP\\alice");
	tap_ok(s != NULL && strstr(s, "the CA refused") != NULL && strstr(s, "Certificate Service DCOM Access") != NULL &&
	       strstr(s, "Enroll on template User") != NULL, "explain: access denied (%s)", s);
	free(s);
	s = ae_hresult_explain(0x80000009u, NULL, NULL, NULL);
	tap_ok(s != NULL && strstr(s, "the CA refused the caller") != NULL && strstr(s, "{") == NULL,
	       "explain: placeholders without values (%s)", s);
	free(s);
	s = ae_hresult_explain(0x80070721u, NULL, NULL, NULL);
	tap_ok(s != NULL && strstr(s, "SPN") != NULL, "explain: RPC_S_SEC_PKG_ERROR (%s)", s);
	free(s);
	s = ae_hresult_explain(0x8007ABCDu, NULL, NULL, NULL);
	tap_ok(s != NULL && strstr(s, "0x8007abcd") != NULL, "explain: unknown Win32 code (%s)", s);
	free(s);
	s = ae_hresult_explain(0x1c000001u, NULL, NULL, NULL);
	tap_ok(s != NULL && strstr(s, "nca_s_fault_int_div_by_zero") != NULL, "explain: named without sentence (%s)", s);
	free(s);
}

/* A stand-in CA: answers every call with ANSWER. */
static void
serve(int fd, const ae_buf *answer, uint8_t *seen, size_t *seen_len)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_rpc *srv = ae_rpc_new_fd(fd, "client", 0, 5, NULL);
	ae_buf in, out;
	bool last = false, first = true;
	uint32_t call_id = 0;
	unsigned n;
	int rc;

	ae_buf_init(&in);
	ae_buf_init(&out);
	while (!last) {
		uint8_t *pdu;
		size_t len;
		if (ae_rpc_recv_pdu(ctx, srv, &pdu, &len) != AE_OK)
			_exit(2);
		if (first)
			call_id = pdu[12];
		if (ae_rpc_take_fragment(ctx, srv, pdu, len, AE_RPC_REQUEST, call_id, first, &in, &last) != AE_OK)
			_exit(3);
		free(pdu);
		first = false;
	}
	(void)seen;
	(void)seen_len;
	if (ae_rpc_build_frags(ctx, &out, AE_RPC_RESPONSE, call_id, 0, 0, (uint8_t *)answer->data, answer->len,
	                       5840, NULL, &n) != AE_OK ||
	    ae_rpc_send(ctx, srv, (uint8_t *)out.data, out.len) != AE_OK)
		_exit(4);
	/* exit status tells whether the request was the worked example */
	rc = in.len == sizeof(worked) && memcmp(in.data, worked, sizeof(worked)) == 0 ? 0 : 5;
	ae_buf_clear(&in);
	ae_buf_clear(&out);
	ae_rpc_free(srv);
	ae_ctx_free(ctx);
	_exit(rc);
}

static void
test_submit(ae_ctx *ctx)
{
	int sv[2], status = 0;
	pid_t pid;
	ae_buf ans;
	ae_rpc *rpc;
	ae_icpr_result r;
	ae_err err;

	ae_buf_init(&ans);
	make_issued(&ans);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return;
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		serve(sv[1], &ans, NULL, NULL);
	}
	close(sv[1]);
	rpc = ae_rpc_new_fd(sv[0], "ca.test", 49667, 5, NULL);
	err = ae_icpr_submit(ctx, rpc, "CA", "CertificateTemplate:User", (const uint8_t *)"\x30\x82\x01\x00", 4, &r);
	tap_is_int(err, AE_OK, "submit: over the stand-in server (%s)", err ? ae_get_message(ctx) : "ok");
	tap_ok(r.disposition == AE_CR_DISP_ISSUED && r.cert_len == 4 && r.request_id == 12, "submit: issued");
	waitpid(pid, &status, 0);
	tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "submit: the server received the worked example (exit %d)",
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	ae_icpr_result_clear(&r);
	ae_rpc_free(rpc);
	ae_buf_clear(&ans);

	/* a server that answers garbage: the error names CA and host */
	ae_buf_append(&ans, "\x01\x02", 2);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return;
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		serve(sv[1], &ans, NULL, NULL);
	}
	close(sv[1]);
	rpc = ae_rpc_new_fd(sv[0], "ca.test", 49667, 5, NULL);
	err = ae_icpr_retrieve(ctx, rpc, "corp-CA", 7, &r);
	tap_ok(err == AE_ERR_INVALID && strstr(ae_get_message(ctx), "corp-CA") != NULL &&
	       strstr(ae_get_message(ctx), "ca.test") != NULL, "retrieve: bad answer named (%s)", ae_get_message(ctx));
	waitpid(pid, &status, 0);
	ae_icpr_result_clear(&r);
	ae_rpc_free(rpc);
	ae_buf_clear(&ans);
}

/* What an answer means: the return value wins over the disposition
 * (MS-WCCE 3.2.1.4.2.1.3, <86>); only a denial or an unknown request ends
 * a pending one. */
static void
test_outcome(void)
{
	static const struct {
		uint32_t disposition, status;
		ae_icpr_outcome outcome;
		uint32_t hr;
		bool final;
		const char *what;
	} cases[] = {
		{ 3, 0, AE_ICPR_ISSUED, 3, false, "issued" },
		{ 4, 0, AE_ICPR_ISSUED, 4, false, "issued out of band" },
		{ 5, 0, AE_ICPR_PENDING, 5, false, "pending" },
		{ 2, 0, AE_ICPR_REFUSED, 2, true, "denied, Windows Server 2008 form (disposition 2, return 0)" },
		{ 2, 0x80094014u, AE_ICPR_REFUSED, 0x80094014u, true, "denied with ADMIN_DENIED_REQUEST" },
		{ 1, 0x80094014u, AE_ICPR_REFUSED, 0x80094014u, true, "denied, current form (disposition 1, return value)" },
		{ 0, 0x80094004u, AE_ICPR_REFUSED, 0x80094004u, true, "unknown request id (disposition 0, PROPERTY_EMPTY)" },
		{ 5, 0x80094004u, AE_ICPR_REFUSED, 0x80094004u, true, "a return value wins over a pending disposition" },
		{ 3, 0x80070005u, AE_ICPR_REFUSED, 0x80070005u, false, "access denied: refused, but not final for a pending request" },
		{ 1, 0x800706BAu, AE_ICPR_REFUSED, 0x800706BAu, false, "RPC server unavailable: kept pending" },
		{ 0x80094805u, 0, AE_ICPR_REFUSED, 0x80094805u, false, "an HRESULT as the disposition" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ae_icpr_result r = { 0 };
		r.disposition = cases[i].disposition;
		r.status = cases[i].status;
		tap_ok(ae_icpr_result_outcome(&r) == cases[i].outcome && ae_icpr_hresult(&r) == cases[i].hr &&
		       ae_icpr_retrieval_final(&r) == cases[i].final,
		       "answer: %s", cases[i].what);
	}
}

int
main(void)
{
	ae_ctx *ctx = ae_ctx_new();

	tap_ok(memcmp(ae_icpr_iface.uuid, "\x20\x60\xae\x91\x3c\x9e\xcf\x11\x8d\x7c\x00\xaa\x00\xc0\x91\xbe", 16) == 0 &&
	       ae_icpr_iface.major == 0 && ae_icpr_iface.minor == 0, "iface: 91ae6020-9e3c-11cf-8d7c-00aa00c091be v0.0");
	test_encode(ctx);
	test_decode(ctx);
	test_hresult();
	test_outcome();
	test_submit(ctx);
	ae_ctx_free(ctx);
	return tap_done();
}
