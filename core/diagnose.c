/*
 * diagnose.c - the order of `autoenroll diagnose`'s checks, and the
 * checks of templates and of the local side (see diagnose.h).
 */
#include "config.h"

#include "diag-ca.h"
#include "diag-net.h"
#include "diag-scep.h"
#include "diagnose.h"
#include "keystore.h"
#include "local.h"
#include "source.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static void
diag_policy(ae_ctx *ctx, const ae_conf *conf, bool machine, ae_diag_report *r, const ae_diag_net *n,
            ae_policy_source **src, ae_policy **p)
{
	ae_context context = machine ? AE_CONTEXT_MACHINE : AE_CONTEXT_USER;
	size_t autoenroll = 0;
	ae_diag_check *c;

	ae_diag_begin(r);
	if (n->krb == NULL) {
		ae_diag_add(r, "policy.load", "Enrollment policy from AD", AE_DIAG_SKIP, "no Kerberos credentials");
		return;
	}
	if (ae_policy_source_open(ctx, conf, context, NULL, src) != AE_OK ||
	    ae_policy_source_load(ctx, *src, context, p) != AE_OK) {
		c = ae_diag_add(r, "policy.load", "Enrollment policy from AD", AE_DIAG_FAIL,
		                "the enrollment policy could not be loaded (Windows logs event 67): %s",
		                ae_get_message(ctx));
		ae_diag_fix(c, NULL, "see the DNS, time, credential and LDAP checks above");
		return;
	}
	for (size_t i = 0; i < (*p)->item_count; i++)
		autoenroll += (*p)->items[i].decision == AE_DECISION_AUTOENROLL;
	c = ae_diag_add(r, "policy.load", "Enrollment policy from AD", AE_DIAG_PASS,
	                "read from %s as %s: %zu CAs, %zu templates, %zu set up for autoenrollment",
	                (*p)->origin.server, (*p)->account.display, (*p)->pki.ca_count, (*p)->item_count, autoenroll);
	ae_diag_detail(c, "policy_server", "%s", (*p)->url ? (*p)->url : "-");
	ae_diag_detail(c, "policy_id", "%s", (*p)->policy_id ? (*p)->policy_id : "-");
	ae_diag_detail(c, "account", "%s", (*p)->account.display);
}

static void
diag_templates(const ae_policy *p, char *const *usable, const char *only_ca, ae_diag_report *r)
{
	char id[300];
	ae_diag_check *c;

	for (size_t i = 0; i < p->item_count; i++) {
		const ae_policy_item *it = &p->items[i];
		const char *by = NULL;

		if (it->decision != AE_DECISION_AUTOENROLL)
			continue;
		if (only_ca != NULL && !ae_strv_contains_nocase(it->cas, only_ca))
			continue;
		ae_diag_begin(r);
		snprintf(id, sizeof(id), "template.%s", it->name);
		for (size_t k = 0; it->cas != NULL && it->cas[k] != NULL && by == NULL; k++)
			if (ae_strv_contains_nocase(usable, it->cas[k]))
				by = it->cas[k];
		if (!it->enroll || !it->autoenroll) {
			c = ae_diag_add(r, id, "Template: rights and a reachable CA", AE_DIAG_FAIL,
			                "%s lacks %s on %s", p->account.display, !it->enroll ? "Enroll" : "AutoEnroll",
			                it->name);
			ae_diag_fix(c, NULL, "grant Enroll and AutoEnroll on the template's Security tab");
		} else if (by == NULL) {
			c = ae_diag_add(r, id, "Template: rights and a reachable CA", AE_DIAG_FAIL,
			                "%s has Enroll and AutoEnroll on %s, but no CA that publishes it took the access probe",
			                p->account.display, it->name);
			ae_diag_fix(c, NULL, "see the CA checks above, or publish the template on another CA (certutil -SetCATemplates +%s)",
			            it->name);
		} else {
			c = ae_diag_add(r, id, "Template: rights and a reachable CA", AE_DIAG_PASS,
			                "%s has Enroll and AutoEnroll on %s, published by %s, which answers",
			                p->account.display, it->name, by);
		}
		ae_diag_detail(c, "cas", "%s", it->cas && it->cas[0] ? it->cas[0] : "none");
	}
}

static void
diag_state_dir(const ae_local *l, ae_diag_report *r)
{
	struct stat st;
	ae_diag_check *c;
	char cmd[4200];

	ae_diag_begin(r);
	if (stat(l->state_dir, &st) != 0) {
		c = ae_diag_add(r, "local.state-dir", "Local: state directory", errno == ENOENT ? AE_DIAG_PASS : AE_DIAG_FAIL,
		                errno == ENOENT ? "%s does not exist yet: the first pulse makes it (0700)" : "%s: %s",
		                l->state_dir, strerror(errno));
	} else if (!S_ISDIR(st.st_mode)) {
		c = ae_diag_add(r, "local.state-dir", "Local: state directory", AE_DIAG_FAIL, "%s is not a directory",
		                l->state_dir);
	} else if (st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
		c = ae_diag_add(r, "local.state-dir", "Local: state directory", AE_DIAG_FAIL,
		                "%s is owned by uid %u with mode %04o: it must be %s's and writable by no one else",
		                l->state_dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
		                l->machine ? "root" : "the user");
		snprintf(cmd, sizeof(cmd), "chown %u %s && chmod 0700 %s", (unsigned)geteuid(), l->state_dir,
		         l->state_dir);
		ae_diag_fix(c, cmd, "give the directory back to its owner, private");
	} else {
		c = ae_diag_add(r, "local.state-dir", "Local: state directory", AE_DIAG_PASS,
		                "%s is private (mode %04o, uid %u)", l->state_dir, (unsigned)(st.st_mode & 07777),
		                (unsigned)st.st_uid);
	}
	ae_diag_detail(c, "path", "%s", l->state_dir);
}

static void
diag_key_store(ae_ctx *ctx, const ae_local *l, ae_diag_report *r)
{
	bool token = strncmp(l->store_spec, "pkcs11:", 7) == 0;
	ae_keystore *ks = NULL;
	ae_diag_check *c;
	ae_err err;

	ae_diag_begin(r);
	if ((err = ae_keystore_check_spec(ctx, l->store_spec, true)) == AE_OK &&
	    (token || access(l->store_spec + 5, F_OK) == 0))
		err = ae_keystore_open(ctx, l->store_spec, &ks);
	if (err == AE_OK) {
		c = ae_diag_add(r, "local.key-store", "Local: key store", AE_DIAG_PASS, "%s %s",
		                ks ? ae_keystore_describe(ks) : l->store_safe,
		                ks ? "opens" : "is fine and does not exist yet: the first enrollment makes it");
	} else if (err == AE_ERR_NEEDPIN) {
		c = ae_diag_add(r, "local.key-store", "Local: key store", AE_DIAG_WARN, "%s", ae_get_message(ctx));
		ae_diag_fix(c, NULL, "give the PIN with pin-source= in store, or enroll interactively (autoenroll pulse --user --interactive)");
	} else if (err == AE_ERR_NOTOKEN) {
		c = ae_diag_add(r, "local.key-store", "Local: key store", AE_DIAG_FAIL, "%s", ae_get_message(ctx));
		ae_diag_fix(c, NULL, "insert the smartcard or token named in store");
	} else {
		c = ae_diag_add(r, "local.key-store", "Local: key store", AE_DIAG_FAIL, "%s", ae_get_message(ctx));
		ae_diag_fix(c, "autoenroll config check", "correct store in the configuration");
	}
	ae_diag_detail(c, "store", "%s", l->store_safe);
	ae_diag_begin(r);
	if (!token)
		ae_diag_add(r, "local.token", "Local: token present", AE_DIAG_SKIP, "keys are kept in files, not on a token");
	else if (err == AE_ERR_NOTOKEN)
		ae_diag_add(r, "local.token", "Local: token present", AE_DIAG_FAIL, "the token named in store is not there");
	else if (ks != NULL || err == AE_ERR_NEEDPIN)
		ae_diag_add(r, "local.token", "Local: token present", AE_DIAG_PASS, "the token is present");
	else
		ae_diag_add(r, "local.token", "Local: token present", AE_DIAG_SKIP, "the key store did not open");
	ae_keystore_free(ks);
}

static void
diag_lock(const ae_local *l, ae_diag_report *r)
{
	char lock[4200], again[4200];
	ae_diag_check *c;
	int fd;

	ae_diag_begin(r);
	snprintf(lock, sizeof(lock), "%s/pulse.lock", l->state_dir);
	snprintf(again, sizeof(again), "%s/pulse.again", l->state_dir);
	fd = open(lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		c = ae_diag_add(r, "local.pulse-lock", "Local: pulse lock", AE_DIAG_PASS, "no pulse has run yet here");
	} else if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		c = ae_diag_add(r, "local.pulse-lock", "Local: pulse lock", AE_DIAG_PASS,
		                "a pulse is running now (it holds %s)", lock);
	} else if (access(again, F_OK) == 0) {
		c = ae_diag_add(r, "local.pulse-lock", "Local: pulse lock", AE_DIAG_WARN,
		                "%s is left over from a pulse that did not finish, and no pulse runs", again);
		ae_diag_fix(c, "autoenroll pulse --wait", "run a pulse: it takes the trigger and removes the file");
	} else {
		c = ae_diag_add(r, "local.pulse-lock", "Local: pulse lock", AE_DIAG_PASS, "the pulse lock is free");
	}
	if (fd >= 0)
		close(fd);
	ae_diag_detail(c, "path", "%s", lock);
}

static void
diag_local(ae_ctx *ctx, const ae_conf *conf, bool machine, ae_diag_report *r)
{
	ae_local l;
	ae_diag_check *c;

	memset(&l, 0, sizeof(l));
	ae_diag_begin(r);
	if (ae_local_init(ctx, conf, machine, &l) != AE_OK) {
		c = ae_diag_add(r, "local.state-dir", "Local: state directory", AE_DIAG_FAIL, "%s", ae_get_message(ctx));
		ae_diag_fix(c, "autoenroll config check", "correct the configuration");
		return;
	}
	diag_state_dir(&l, r);
	diag_key_store(ctx, &l, r);
	diag_lock(&l, r);
	ae_local_clear(&l);
}

/* The context's SCEP profiles (not with --ca), or the one --scep names:
 * trust from AD, or only the anchor without the policy. */
static void
diag_scep_servers(ae_ctx *ctx, const ae_conf *conf, const ae_diagnose_opts *opts, const ae_policy *p,
                  ae_diag_report *r)
{
	static const ae_pki none;
	const ae_pki *pki = p ? &p->pki : &none;
	const ae_scep_profile *named = opts->scep ? ae_conf_scep_profile(conf, opts->scep) : NULL;

	if (opts->scep != NULL && named == NULL) {
		const char *host = strstr(opts->scep, "://");
		char name[128];
		ae_diag_check *c;

		if (host == NULL) {
			ae_diag_begin(r);
			c = ae_diag_add(r, "scep", "SCEP", AE_DIAG_FAIL, "no SCEP profile [scep %s] in the configuration, and not a URL",
			                opts->scep);
			ae_diag_fix(c, NULL, "name a profile of the configuration, or give the SCEP server's https:// URL");
			return;
		}
		host += 3;
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(host, ":/?"), host);
		ae_diag_scep(ctx, conf, pki, name, opts->scep, conf->scep_anchor, conf->scep_allow_http, r);
		return;
	}
	for (size_t i = 0; i < conf->n_scep; i++) {
		const ae_scep_profile *sp = &conf->scep[i];
		if (named != NULL ? sp != named : sp->user == opts->machine || opts->ca != NULL)
			continue;
		ae_diag_scep(ctx, conf, pki, sp->name, sp->url, sp->anchor ? sp->anchor : conf->scep_anchor,
		             sp->allow_http >= 0 ? sp->allow_http == 1 : conf->scep_allow_http, r);
	}
}

ae_err
ae_diagnose(ae_ctx *ctx, const ae_conf *conf, const ae_diagnose_opts *opts, ae_diag_report *r)
{
	ae_diag_net n;
	ae_policy_source *src = NULL;
	ae_policy *p = NULL;
	ae_crl_fetch fetch;
	char **usable = NULL;
	bool found = false;

	memset(&n, 0, sizeof(n));
	ae_diag_dns(ctx, conf, r, &n);
	ae_diag_time(ctx, conf, r, &n);
	ae_diag_credentials(ctx, conf, opts->machine, r, &n);
	ae_diag_ldap(ctx, conf, opts->machine, r, &n);
	diag_policy(ctx, conf, opts->machine, r, &n, &src, &p);
	if (!conf->group_policy) {
		ae_diag_begin(r);
		ae_diag_add(r, "group-policy", "Group Policy", AE_DIAG_SKIP,
		            "group_policy = no in [global]: the settings come from autoenroll.conf alone");
	} else if (p == NULL || opts->group_policy == NULL) {
		ae_diag_begin(r);
		ae_diag_add(r, "group-policy", "Group Policy", AE_DIAG_SKIP,
		            p == NULL ? "the GPOs are read over the enrollment policy's LDAP session, which did not open"
		                      : "this program does not read Group Policy");
	} else {
		opts->group_policy(ctx, conf, src, p, opts->machine, r);
		ae_clear_message(ctx);
	}
	if (p != NULL) {
		ae_diag_ca_env env = {
			.conf = conf, .pki = &p->pki, .caller = p->account.display,
			.fetch = &fetch, .ld = n.ld, .named = opts->ca != NULL,
		};
		ae_policy_source_crl_fetch(src, &fetch);
		for (size_t i = 0; i < p->pki.ca_count; i++) {
			bool ok = false;
			if (opts->ca != NULL && strcasecmp(opts->ca, p->pki.cas[i].name) != 0)
				continue;
			found = true;
			ae_diag_ca(ctx, &env, &p->pki.cas[i], r, &ok);
			if (ok)
				ae_strv_append(&usable, p->pki.cas[i].name);
		}
		if (opts->ca != NULL && !found) {
			ae_diag_check *c;
			ae_diag_begin(r);
			c = ae_diag_add(r, "ca", "CA", AE_DIAG_FAIL, "AD publishes no enrollment service named %s",
			                opts->ca);
			ae_diag_fix(c, NULL, "name one of the CAs autoenroll policy lists");
		}
		diag_templates(p, usable, opts->ca, r);
	}
	diag_scep_servers(ctx, conf, opts, p, r);
	diag_local(ctx, conf, opts->machine, r);
	ae_strv_free(usable);
	ae_policy_free(p);
	ae_policy_source_free(src);
	ae_diag_net_clear(&n);
	ae_clear_message(ctx);
	return AE_OK;
}
