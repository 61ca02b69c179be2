/*
 * source.c - policy sources (see source.h).
 */
#include "config.h"

#include "store.h"
#include "krb.h"
#include "source.h"
#include "xcep.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

ae_err
ae_policy_source_open(ae_ctx *ctx, const ae_conf *conf, ae_context context, void *arg, ae_policy_source **out)
{
	(void)arg;
	return ae_policy_source_open_servers(ctx, conf, context,
	                                     context == AE_CONTEXT_MACHINE ? conf->machine_policy_servers
	                                                                   : conf->user_policy_servers,
	                                     out);
}

ae_err
ae_policy_source_open_servers(ae_ctx *ctx, const ae_conf *conf, ae_context context, char *const *list,
                              ae_policy_source **out)
{
	ae_policy_server *servers = NULL;
	size_t n = 0;
	bool machine = context == AE_CONTEXT_MACHINE;
	char *dir = NULL;
	ae_err err;

	/* The config's policy servers or Group Policy's PolicyServers,
	 * else LDAP: alone. */
	if (list == NULL || (list[0] != NULL && list[1] == NULL && strcasecmp(list[0], "LDAP:") == 0))
		return ae_policy_source_ldap(ctx, conf, context, out);
	if ((err = ae_policy_servers_parse(ctx, list, &servers, &n)) != AE_OK)
		return err;
	/* the context's state directory keeps the CEPs' answers (no cache
	 * when it is unknown) */
	dir = machine ? (conf->machine_state_dir ? strdup(conf->machine_state_dir) : ae_store_default_dir(true))
	              : (conf->user_state_dir ? strdup(conf->user_state_dir) : ae_store_default_dir(false));
	err = ae_policy_source_servers(ctx, conf, context, servers, n, dir, out);
	free(dir);
	ae_policy_servers_free(servers, n);
	return err;
}

ae_err
ae_policy_source_credentials(ae_ctx *ctx, const ae_conf *conf, ae_context context, ae_policy_source *src,
                             ae_krb **krb)
{
	ae_err err = context == AE_CONTEXT_MACHINE ? ae_krb_machine(ctx, conf, krb) : ae_krb_user(ctx, krb);

	if (err == AE_OK && (src->principal = strdup(ae_krb_principal(*krb))) == NULL)
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	return err;
}

ae_err
ae_policy_source_load(ae_ctx *ctx, ae_policy_source *src, ae_context context, ae_policy **out)
{
	ae_policy *p = NULL;
	ae_err err;

	*out = NULL;
	if ((err = src->ops->read(ctx, src, context, &p)) != AE_OK)
		return err;
	if ((err = ae_policy_decide(ctx, p)) != AE_OK) {
		ae_policy_free(p);
		return err;
	}
	*out = p;
	return AE_OK;
}

ae_err
ae_policy_load(ae_ctx *ctx, const ae_conf *conf, ae_context context, ae_policy **out)
{
	ae_policy_source *src = NULL;
	ae_err err;

	*out = NULL;
	if ((err = ae_policy_source_open(ctx, conf, context, NULL, &src)) != AE_OK)
		return err;
	err = ae_policy_source_load(ctx, src, context, out);
	ae_policy_source_free(src);
	return err;
}

ae_err
ae_policy_source_remove_ds_cert(ae_ctx *ctx, ae_policy_source *src, const char *dn, const uint8_t *der, size_t len)
{
	if (src->ops->remove_ds_cert == NULL)
		return ae_set_message(ctx, AE_ERR_UNSUPPORTED, "the %s policy source publishes no certificates",
		                      src->ops->name);
	return src->ops->remove_ds_cert(ctx, src, dn, der, len);
}

ae_err
ae_policy_source_export_ccache(ae_ctx *ctx, ae_policy_source *src, const char *path)
{
	if (src->ops->export_ccache == NULL)
		return ae_set_message(ctx, AE_ERR_UNSUPPORTED, "the %s policy source has no Kerberos credentials",
		                      src->ops->name);
	return src->ops->export_ccache(ctx, src, path);
}

ae_err
ae_policy_source_read_gpo(ae_ctx *ctx, ae_policy_source *src, const char *account_dn, ae_som **soms,
                          size_t *n_soms, ae_gpo_object **objs, size_t *n_objs)
{
	*soms = NULL;
	*objs = NULL;
	*n_soms = *n_objs = 0;
	if (src->ops->read_gpo == NULL)
		return ae_set_message(ctx, AE_ERR_UNSUPPORTED, "the %s policy source has no Group Policy",
		                      src->ops->name);
	return src->ops->read_gpo(ctx, src, account_dn, soms, n_soms, objs, n_objs);
}

ae_err
ae_policy_source_read_attribute(ae_ctx *ctx, ae_policy_source *src, const char *dn, const char *attr,
                                ae_value **values, size_t *count)
{
	*values = NULL;
	*count = 0;
	if (src->ops->read_attribute == NULL)
		return ae_set_message(ctx, AE_ERR_UNSUPPORTED, "the %s policy source has no directory to read %s from",
		                      src->ops->name, dn);
	return src->ops->read_attribute(ctx, src, dn, attr, values, count);
}

static ae_err
crl_ldap_read(ae_ctx *ctx, void *arg, const char *dn, const char *attr, ae_value **values, size_t *count)
{
	return ae_policy_source_read_attribute(ctx, arg, dn, attr, values, count);
}

void
ae_policy_source_crl_fetch(ae_policy_source *src, ae_crl_fetch *out)
{
	out->ldap_read = src != NULL && src->ops->read_attribute != NULL ? crl_ldap_read : NULL;
	out->arg = src;
}

unsigned
ae_policy_source_round_trips(const ae_policy_source *src)
{
	return src != NULL && src->ops->round_trips != NULL ? src->ops->round_trips(src) : 0;
}

void
ae_policy_source_free(ae_policy_source *src)
{
	if (src == NULL)
		return;
	if (src->ops->free != NULL)
		src->ops->free(src);
	free(src->principal);
	free(src);
}
