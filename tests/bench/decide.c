/*
 * decide.c - the time to decide N templates for a caller whose token holds
 * S SIDs, with the policy decisions alone (ae_policy_decide: access checks
 * on each template's real security descriptor, CA publication, the
 * whitepaper's exclusions, supersedence) and no network.  The templates
 * are the 33 Windows defaults of tests/data, repeated under new names; one
 * valid CA publishes them all; the token is the well-known SIDs plus
 * random domain SIDs.  Prints the median, minimum and maximum of RUNS.
 *
 *   decide [TEMPLATES [SIDS [RUNS]]]     (default 1000 5000 21)
 */
#include "config.h"

#include "unit/ldif.h"
#include "policy.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* A policy with NTPL templates and a token of NSIDS SIDs, not decided. */
static ae_policy *
build(ae_ctx *ctx, const ldif_file *lf, size_t ntpl, size_t nsids)
{
	ae_policy *p = calloc(1, sizeof(*p));
	ae_ca *ca;
	size_t made = 0;

	if (p == NULL)
		return NULL;
	p->context = AE_CONTEXT_USER;
	p->templates = calloc(ntpl, sizeof(*p->templates));
	p->pki.cas = calloc(1, sizeof(ae_ca));
	if (p->templates == NULL || p->pki.cas == NULL)
		goto fail;
	p->pki.ca_count = 1;
	ca = &p->pki.cas[0];
	ca->name = strdup("CORP-CA1");
	ca->host = strdup("ca1.corp.test");
	ca->valid = true;
	for (size_t i = 0; made < ntpl && lf->count > 0; i++) {
		ae_template *t = NULL;
		char name[96];
		if (ae_template_from_entry(ctx, &lf->entries[i % lf->count], &t) != AE_OK) {
			ae_clear_message(ctx);
			continue;
		}
		snprintf(name, sizeof(name), "%s-%04zu", t->name, made);
		free(t->name);
		t->name = strdup(name);
		if (!ae_strv_append(&ca->templates, name))
			goto fail;
		p->templates[made++] = t;
		p->template_count = made;
	}
	p->account.display = strdup("CORP\\alice");
	/* Domain Users of the fixtures' domain: the templates that grant it
	 * Enroll are decided all the way, not refused at the access check. */
	if (ae_token_add_wellknown(ctx, &p->account.token) != AE_OK ||
	    ae_token_add_string(ctx, &p->account.token, "S-1-5-21-1047456448-2337630968-2720937775-513") != AE_OK)
		goto fail;
	srand(42);
	while (p->account.token.count < nsids) {
		char sid[96];
		snprintf(sid, sizeof(sid), "S-1-5-21-%u-%u-%u-%u", (unsigned)rand(), (unsigned)rand(),
		         (unsigned)rand(), 1000u + (unsigned)(rand() % 100000));
		if (ae_token_add_string(ctx, &p->account.token, sid) != AE_OK)
			goto fail;
	}
	return p;
fail:
	ae_policy_free(p);
	return NULL;
}

int
main(int argc, char **argv)
{
	size_t ntpl = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
	size_t nsids = argc > 2 ? strtoul(argv[2], NULL, 10) : 5000;
	size_t runs = argc > 3 ? strtoul(argv[3], NULL, 10) : 21;
	ae_ctx *ctx = ae_ctx_new();
	ldif_file lf;
	char err[256];
	double *ms, build_ms = 0;
	size_t autoenroll = 0;

	if (runs == 0 || ntpl == 0 ||
	    ldif_read_file(SRCDIR "/tests/data/windows-default-templates.ldif", &lf, err, sizeof(err)) != 0) {
		fprintf(stderr, "decide: %s\n", runs == 0 || ntpl == 0 ? "nothing to measure" : err);
		return 1;
	}
	ms = calloc(runs, sizeof(*ms));
	for (size_t r = 0; r < runs; r++) {
		double t0 = now_ms(), t1;
		ae_policy *p = build(ctx, &lf, ntpl, nsids);
		if (p == NULL) {
			fprintf(stderr, "decide: cannot build the policy: %s\n", ae_get_message(ctx));
			return 1;
		}
		t1 = now_ms();
		build_ms += t1 - t0;
		if (ae_policy_decide(ctx, p) != AE_OK) {
			fprintf(stderr, "decide: %s\n", ae_get_message(ctx));
			return 1;
		}
		ms[r] = now_ms() - t1;
		autoenroll = 0;
		for (size_t i = 0; i < p->item_count; i++)
			autoenroll += p->items[i].decision != AE_DECISION_SKIP;
		ae_policy_free(p);
	}
	qsort(ms, runs, sizeof(*ms), cmp_double);
	printf("decide %zu templates for a token of %zu SIDs (%zu runs): median %.2f ms, min %.2f ms, max %.2f ms"
	       " (%zu not skipped; building the policy in memory took %.2f ms per run, not counted)\n",
	       ntpl, nsids, runs, ms[runs / 2], ms[0], ms[runs - 1], autoenroll, build_ms / (double)runs);
	free(ms);
	ldif_free(&lf);
	ae_ctx_free(ctx);
	return 0;
}
