/*
 * ae-wrong-request - a test program (never installed): submits, as the
 * calling user, a request for TEMPLATE built by autoenroll's own request
 * builder and transport, but made wrong in one way a real AD CS refuses,
 * and prints what autoenroll tells its user about the refusal.  The lab
 * tests use it to check the client's message for each refusal the lab CA
 * returns with AD CS's HRESULT.
 *
 *   ae-wrong-request --template NAME --fault FAULT [--ca NAME] [--ces URL]
 *
 * FAULT: none (the request as autoenroll sends it), no-smime (without the
 * S/MIME capabilities the template asks for), small-key (RSA 1024 bits),
 * ec-key (ECDSA P-256 where the template wants RSA), archive-other-key
 * (key archival, with --ces: a CMC request whose archived key, encrypted
 * to the CA exchange certificate and hashed as it should be, is not the
 * request's key).
 * Output: "hresult 0x........" and "message: ..." lines; exit 0 when
 * issued, 1 when refused, 2 on usage or local errors.  The key lives in
 * memory only: nothing is stored.
 */
#include "config.h"

#include "ces.h"
#include "conf.h"
#include "csr.h"
#include "transport.h"
#include "source.h"
#include "txn.h"
#include "policy.h"

#include <getopt.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "template", required_argument, NULL, 't' },
		{ "fault", required_argument, NULL, 'f' },
		{ "ca", required_argument, NULL, 'a' },
		{ "ces", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tpl_name = NULL, *fault = "none", *ca_name = NULL, *ces = NULL;
	ae_ca via = { 0 };
	EVP_PKEY *other = NULL;
	X509 *xchg = NULL;
	ae_ctx *ctx = ae_ctx_new();
	ae_conf *conf = NULL;
	ae_policy_source *src = NULL;
	ae_policy *pol = NULL;
	ae_template tcopy;
	const ae_policy_item *it;
	const ae_ca *ca;
	EVP_PKEY *key = NULL;
	X509_REQ *req = NULL;
	uint8_t *der = NULL;
	size_t der_len = 0;
	char *attrs = NULL, host[256] = "localhost";
	ae_ca_link *link = NULL;
	ae_ca_answer res = { 0 };
	int rc = 2, c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't': tpl_name = optarg; break;
		case 'f': fault = optarg; break;
		case 'a': ca_name = optarg; break;
		case 'c': ces = optarg; break;
		default: return 2;
		}
	}
	if (tpl_name == NULL || optind < argc) {
		fprintf(stderr, "usage: ae-wrong-request --template NAME --fault none|no-smime|small-key|ec-key|archive-other-key [--ca NAME] [--ces URL]\n");
		return 2;
	}
	if (ae_conf_load(ctx, NULL, false, &conf) != AE_OK || ae_policy_source_open(ctx, conf, AE_CONTEXT_USER, NULL, &src) != AE_OK ||
	    ae_policy_source_load(ctx, src, AE_CONTEXT_USER, &pol) != AE_OK)
		goto fail;
	it = ae_policy_find_item(pol, tpl_name);
	if (it == NULL || it->tpl == NULL) {
		fprintf(stderr, "ae-wrong-request: no template %s\n", tpl_name);
		goto out;
	}
	ca = ae_policy_find_ca(pol, ca_name ? ca_name : it->cas ? it->cas[0] : "CORP-CA1");
	if (ca == NULL || ca->host == NULL) {
		fprintf(stderr, "ae-wrong-request: no CA for %s\n", tpl_name);
		goto out;
	}
	if (ces != NULL) {
		/* the CA through its CES, as enroll --ces does */
		via = *ca;
		via.transport = &ae_transport_ces;
		via.endpoint_trust = NULL;
		if ((via.url = strdup(ces)) == NULL || ae_ces_trust(ctx, &pol->pki, &via.endpoint_trust) != AE_OK)
			goto fail;
		ca = &via;
	}
	/* A shallow copy whose flags the fault may change. */
	tcopy = *it->tpl;
	if (strcmp(fault, "no-smime") == 0)
		tcopy.enrollment_flags &= ~(uint32_t)AE_EF_INCLUDE_SYMMETRIC_ALGORITHMS;
	if (strcmp(fault, "small-key") == 0)
		key = EVP_RSA_gen(1024);
	else if (strcmp(fault, "ec-key") == 0)
		key = EVP_EC_gen("P-256");
	else if (strcmp(fault, "none") == 0 || strcmp(fault, "no-smime") == 0 || strcmp(fault, "archive-other-key") == 0)
		key = tcopy.key_alg == AE_KEY_ALG_ECDSA_P256 ? EVP_EC_gen("P-256")
		      : EVP_RSA_gen(tcopy.min_key_size > 2048 ? tcopy.min_key_size : 2048);
	else {
		fprintf(stderr, "ae-wrong-request: unknown fault %s\n", fault);
		goto out;
	}
	if (key == NULL) {
		fprintf(stderr, "ae-wrong-request: no key\n");
		goto out;
	}
	gethostname(host, sizeof(host) - 1);
	if (ae_ca_link_open(ctx, conf, ca, &link) != AE_OK)
		goto fail;
	if (strcmp(fault, "archive-other-key") == 0 &&
	    ((other = EVP_RSA_gen(2048)) == NULL || ae_ca_link_exchange_cert(ctx, link, ca, &xchg) != AE_OK ||
	     ae_csr_check_exchange(ctx, xchg, ca->cert, ca->name, time(NULL)) != AE_OK))
		goto fail;
	{
		ae_csr_params params = {
			.tpl = &tcopy,
			.client_id = AE_CLIENT_ID_CLI,
			.machine = host,
			.user = pol->account.display,
			.process = "ae-wrong-request",
			.archive_to = xchg,
			.archive_key = other,
		};
		if (xchg != NULL ? ae_csr_build_signed(ctx, &params, key, NULL, NULL, NULL, &der, &der_len) != AE_OK
		                 : ae_csr_build(ctx, &params, key, &req) != AE_OK ||
		                           ae_csr_to_der(ctx, req, &der, &der_len) != AE_OK)
			goto fail;
		if (ae_csr_attributes(ctx, tcopy.name, host, pol->origin.server, &attrs) != AE_OK)
			goto fail;
	}
	if (ae_ca_link_submit(ctx, link, ca, attrs, der, der_len, &res) != AE_OK)
		goto fail;
	if (res.outcome != AE_CA_REFUSED) {
		printf("hresult 0x%08X\nmessage: %s (request %u)\n", 0u,
		       res.outcome == AE_CA_ISSUED ? "issued" : "pending", res.request_id);
		rc = 0;
		goto out;
	}
	{
		uint32_t hr = 0;
		ae_txn_refusal(ctx, &res, tcopy.name, ca->name, pol->account.display, &hr);
		printf("hresult 0x%08X\nmessage: %s\n", hr, ae_get_message(ctx));
	}
	rc = 1;
	goto out;
fail:
	fprintf(stderr, "ae-wrong-request: %s\n", ae_get_message(ctx));
out:
	ae_ca_answer_clear(&res);
	ae_ca_link_free(link);
	free(attrs);
	free(der);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	X509_free(xchg);
	free(via.url);
	free(via.endpoint_trust);
	ae_policy_free(pol);
	ae_policy_source_free(src);
	ae_conf_free(conf);
	ae_ctx_free(ctx);
	return rc;
}
