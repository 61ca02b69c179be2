/*
 * fuzz-ca.c - a pKIEnrollmentService entry whose cACertificate,
 * certificateTemplates and flags come from the input: the DER decoder, the
 * CA object parser and chain validation on what a DC (or a forged object)
 * can hold.
 */
#include "config.h"

#include "pki.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "openssl-setup.h"

static int
fuzz_one(const uint8_t *data, size_t size)
{
	/* Layout: first byte splits the rest into certificate and template
	 * list (templates separated by NUL, as multi-valued attributes). */
	ae_ctx *ctx = ae_ctx_new();
	ae_value cn = { (const uint8_t *)"Fuzz-CA", 7 };
	ae_value flags = { (const uint8_t *)"-1", 2 };
	ae_value cert, tv[16];
	ae_attr attrs[4];
	ae_entry e = { "CN=Fuzz-CA,CN=Enrollment Services", attrs, 4 };
	size_t split, nt = 0, start;
	ae_ca ca;
	ae_pki pki;

	if (ctx == NULL || size < 1) {
		ae_ctx_free(ctx);
		return 0;
	}
	split = size > 1 ? data[0] % size : 0;
	cert.data = data + 1;
	cert.len = size - 1 - (size - 1 > split ? split : size - 1);
	start = 1 + cert.len;
	for (size_t i = start; i <= size && nt < 16; i++) {
		if (i == size || data[i] == 0) {
			tv[nt].data = data + start;
			tv[nt].len = i - start;
			nt++;
			start = i + 1;
		}
	}
	attrs[0] = (ae_attr){ "cn", &cn, 1 };
	attrs[1] = (ae_attr){ "cACertificate", &cert, 1 };
	attrs[2] = (ae_attr){ "certificateTemplates", tv, nt };
	attrs[3] = (ae_attr){ "flags", &flags, 1 };
	if (ae_ca_from_entry(ctx, &e, &ca) == AE_OK) {
		memset(&pki, 0, sizeof(pki));
		pki.cas = calloc(1, sizeof(ae_ca));
		if (pki.cas != NULL) {
			pki.cas[0] = ca;
			pki.ca_count = 1;
			/* The CA's own certificate as root: exercises validation. */
			ae_pki_add_certs(ctx, &pki.roots, &e, "cACertificate");
			ae_pki_validate(ctx, &pki, 0);
			if (pki.cas[0].cert == NULL && pki.cas[0].valid)
				__builtin_trap();
		} else {
			ae_ca_clear(&ca);
		}
		ae_pki_clear(&pki);
	}
	ae_ctx_free(ctx);
	return 0;
}
