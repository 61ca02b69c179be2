/*
 * gpread.c - Group Policy for a context, end to end.  See gpread.h.
 */
#include "config.h"

#include "gpread.h"

#include "store.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
ae_gp_result_free(ae_gp_result *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; r->list != NULL && i < r->list->n; i++) {
		if (r->pols != NULL)
			ae_regpol_free(r->pols[i]);
		if (r->problem != NULL)
			free(r->problem[i]);
	}
	free(r->pols);
	free(r->source);
	free(r->problem);
	ae_gp_settings_free(r->settings);
	ae_gpo_list_free(r->list);
	ae_gpo_objects_free(r->objs, r->n_objs);
	ae_soms_free(r->soms, r->n_soms);
	free(r);
}

/* Each applied GPO's Registry.pol into R, and the inputs of the settings
 * (in order) into IN. */
static ae_err
read_files(ae_ctx *ctx, const ae_conf *conf, ae_policy_source *src, const ae_policy *p, bool machine,
           ae_gp_result *r, ae_gp_input *in, size_t *n_in)
{
	const char *dir = machine ? conf->machine_state_dir : conf->user_state_dir;
	char *state = dir ? strdup(dir) : ae_store_default_dir(machine);
	char *cache_dir = state ? ae_strdup_printf("%s/gpo", state) : NULL, *ccpath = NULL, *cc = NULL, setting[512];
	ae_sysvol *sv = NULL;
	ae_store *st = NULL;
	ae_err err;

	*n_in = 0;
	if (cache_dir == NULL) {
		free(state);
		return ae_set_message(ctx, AE_ERR_CONFIG, "no state directory (state_dir in [%s], or HOME)",
		                      machine ? "machine" : "user");
	}
	/* the state directory as the store makes and checks it (ours, 0700) */
	err = ae_store_open(ctx, state, true, &st);
	ae_store_free(st);
	if (err != AE_OK)
		goto out;
	ae_conf_setting(conf, "global", "ldap_timeout", setting, sizeof(setting));
	ccpath = ae_strdup_printf("%s/smb-ccache-%ld", cache_dir, (long)getpid());
	cc = ccpath ? ae_strdup_printf("FILE:%s", ccpath) : NULL;
	if (cc == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto out;
	}
	err = ae_sysvol_open(ctx, p->origin.server, cc, cache_dir, conf->ldap_timeout, setting, &sv);
	if (err == AE_OK)
		err = ae_policy_source_export_ccache(ctx, src, ccpath);
	if (err != AE_OK)
		goto out;
	for (size_t i = 0; i < r->list->n_ordered; i++) {
		const ae_gpo_result *g = &r->list->items[i];
		ae_sysvol_source how;

		if (g->status != AE_GPO_APPLIED)
			continue;
		if (ae_sysvol_registry_pol(ctx, sv, g->obj, machine, &r->pols[i], &how) != AE_OK) {
			if (ae_get_code(ctx) == AE_ERR_NOMEM) {
				err = AE_ERR_NOMEM;
				goto out;
			}
			r->problem[i] = strdup(ae_get_message(ctx));
			ae_clear_message(ctx);
			continue;
		}
		r->source[i] = (int)how;
		in[*n_in].gpo = g->obj->name;
		in[(*n_in)++].pol = r->pols[i];
	}
	r->sysvol = *ae_sysvol_get_stats(sv);
out:
	if (ccpath != NULL)
		unlink(ccpath);
	ae_sysvol_free(sv);
	free(ccpath);
	free(cc);
	free(cache_dir);
	free(state);
	return err;
}

ae_err
ae_gp_read(ae_ctx *ctx, const ae_conf *conf, ae_policy_source *src, const ae_policy *p, bool machine,
           ae_gp_result **out)
{
	ae_gp_result *r = calloc(1, sizeof(*r));
	ae_gp_input *in = NULL;
	size_t n_in = 0;
	unsigned before = ae_policy_source_round_trips(src);
	double start = ae_monotonic_seconds();
	ae_err err;

	*out = NULL;
	if (r == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	err = ae_policy_source_read_gpo(ctx, src, p->account.dn, &r->soms, &r->n_soms, &r->objs, &r->n_objs);
	if (err == AE_OK)
		err = ae_gpo_compute(ctx, r->soms, r->n_soms, r->objs, r->n_objs, &p->account.token, machine, &r->list);
	r->ldap_round_trips = ae_policy_source_round_trips(src) - before;
	r->ldap_seconds = ae_monotonic_seconds() - start;
	if (err != AE_OK)
		goto out;
	r->pols = calloc(r->list->n + 1, sizeof(*r->pols));
	r->source = calloc(r->list->n + 1, sizeof(*r->source));
	r->problem = calloc(r->list->n + 1, sizeof(*r->problem));
	in = calloc(r->list->n + 1, sizeof(*in));
	if (r->pols == NULL || r->source == NULL || r->problem == NULL || in == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < r->list->n; i++)
		r->source[i] = -1;
	err = read_files(ctx, conf, src, p, machine, r, in, &n_in);
	if (err == AE_OK)
		err = ae_gp_settings_compute(ctx, in, n_in, &r->settings);
out:
	free(in);
	if (err != AE_OK) {
		ae_prefix_message(ctx, err, "Group Policy of %s", p->account.display ? p->account.display : "?");
		ae_gp_result_free(r);
		return err;
	}
	*out = r;
	return AE_OK;
}

ae_err
ae_gp_pulse_aepolicy(ae_ctx *ctx, const ae_conf *conf, ae_policy_source *src, const ae_policy *policy,
                     bool machine, uint32_t *aepolicy, char **gpo)
{
	ae_gp_result *r = NULL;
	ae_err err;

	*gpo = NULL;
	if ((err = ae_gp_read(ctx, conf, src, policy, machine, &r)) != AE_OK)
		return err;
	for (size_t i = 0; i < r->list->n; i++)
		if (r->problem[i] != NULL)
			ae_log(ctx, AE_LOG_WARNING, "%s: nothing of it applies", r->problem[i]);
	for (size_t i = 0; r->settings->problems != NULL && r->settings->problems[i] != NULL; i++)
		ae_log(ctx, AE_LOG_WARNING, "Group Policy: %s", r->settings->problems[i]);
	if (r->settings->aepolicy.set) {
		*aepolicy = r->settings->aepolicy.value;
		*gpo = strdup(r->settings->aepolicy.gpo);
		if (*gpo == NULL)
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		else
			ae_log(ctx, AE_LOG_INFO, "AEPolicy 0x%x from Group Policy \"%s\"", (unsigned)*aepolicy, *gpo);
	}
	ae_gp_result_free(r);
	return err;
}
