/*
 * fuzz-conf.c - autoenroll.conf parser on arbitrary bytes.
 */
#include "config.h"

#include "conf.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_conf *conf = NULL;

	if (ctx == NULL)
		return 0;
	if (ae_conf_parse(ctx, (const char *)data, size, "fuzz.conf", &conf) == AE_OK) {
		if (conf == NULL || conf->ldap_timeout < 1 || conf->dns_timeout < 1)
			__builtin_trap(); /* success must give a usable configuration */
	} else if (conf != NULL) {
		__builtin_trap(); /* outputs stay NULL on error */
	}
	ae_conf_free(conf);
	conf = NULL;
	/* The checker (autoenroll config check) goes on after every problem. */
	{
		ae_conf_report *rep = ae_conf_report_new();
		if (rep != NULL && ae_conf_parse_checked(ctx, (const char *)data, size, "fuzz.conf", rep, &conf) == AE_OK) {
			if (conf == NULL || conf->ldap_timeout < 1 || conf->dns_timeout < 1)
				__builtin_trap();
			ae_conf_report_sort(rep);
			for (size_t i = 0; i < ae_conf_report_count(rep); i++)
				if (ae_conf_report_get(rep, i)->message == NULL)
					__builtin_trap();
		}
		ae_conf_free(conf);
		ae_conf_report_free(rep);
	}
	ae_ctx_free(ctx);
	return 0;
}
