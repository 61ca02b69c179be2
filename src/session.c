/*
 * session.c - a context opened for the enrolling commands (see session.h).
 */
#include "config.h"

#include "csr.h"
#include "session.h"

#include <string.h>

void
ae_cli_session_clear(ae_cli_session *s)
{
	ae_ca_links_drop(&s->links);
	ae_keystore_free(s->ks);
	ae_store_free(s->st);
	ae_policy_free(s->policy);
	ae_policy_source_free(s->src);
	ae_local_clear(&s->local);
	ae_conf_free(s->conf);
	memset(s, 0, sizeof(*s));
}

ae_err
ae_cli_session_open(ae_ctx *ctx, ae_cli_globals *g, bool machine, const char *who, ae_cli_session *s)
{
	ae_context context = machine ? AE_CONTEXT_MACHINE : AE_CONTEXT_USER;
	ae_err err;

	memset(s, 0, sizeof(*s));
	if ((err = ae_cli_load_conf(ctx, g, &s->conf)) != AE_OK ||
	    (err = ae_local_init(ctx, s->conf, machine, &s->local)) != AE_OK ||
	    (err = ae_policy_source_open(ctx, s->conf, context, NULL, &s->src)) != AE_OK ||
	    (err = ae_policy_source_load(ctx, s->src, context, &s->policy)) != AE_OK)
		return err;
	/* Recovery of interrupted runs first, so that no key is orphaned. */
	if ((err = ae_store_open(ctx, s->local.state_dir, true, &s->st)) != AE_OK ||
	    (err = ae_keystore_open(ctx, s->local.store_spec, &s->ks)) != AE_OK ||
	    (err = ae_local_recover(ctx, s->st, s->ks, &s->local, &s->recovered)) != AE_OK)
		return err;
	s->links.conf = s->conf;
	s->env = (ae_txn_env){
		.local = &s->local,
		.st = s->st,
		.ks = s->ks,
		.policy = s->policy,
		.links = &s->links,
		.client_id = AE_CLIENT_ID_CLI,
		.process = "autoenroll",
		.who = who,
	};
	return AE_OK;
}

ae_err
ae_cli_session_template(ae_ctx *ctx, const ae_cli_session *s, const char *name, bool machine,
                        const ae_policy_item **out)
{
	const ae_policy_item *it = ae_policy_find_item(s->policy, name);
	const ae_template *t;

	*out = NULL;
	if (it == NULL)
		return ae_set_message(ctx, AE_ERR_NOTFOUND,
		                      "no certificate template named %s in %s (autoenroll policy lists them)", name,
		                      s->policy->domain ? s->policy->domain : "the policy");
	if (it->tpl == NULL)
		return ae_set_message(ctx, AE_ERR_NOTFOUND, "template %s cannot be used: %s", name, it->reason);
	t = it->tpl;
	if (((t->flags & AE_CT_FLAG_MACHINE_TYPE) != 0) != machine)
		return ae_set_message(ctx, AE_ERR_INVALID, "%s is a %s template: use %s", t->name,
		                      machine ? "user" : "machine", machine ? "--user" : "--machine");
	*out = it;
	return AE_OK;
}
