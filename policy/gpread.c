/*
 * gpread.c - Group Policy for a context, end to end.  See gpread.h.
 */
#include "config.h"

#include "gpread.h"

#include "store.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
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
	ae_gp_computer_clear(&r->loopback);
	free(r->loopback_file);
	free(r->loopback_problem);
	ae_gpo_objects_free(r->lb_objs, r->n_lb_objs);
	ae_soms_free(r->lb_soms, r->n_lb_soms);
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

/* computer_gp_file; by default next to the machine's state directory. */
static char *
computer_file(const ae_conf *conf)
{
	if (conf->computer_gp_file != NULL)
		return strdup(conf->computer_gp_file);
	if (conf->machine_state_dir != NULL)
		return ae_strdup_printf("%s-public/computer-gp", conf->machine_state_dir);
	return strdup(AE_COMPUTER_GP_FILE);
}

/* The machine's: the computer's DN and UserPolicyMode for users' pulses.
 * A failure is a warning: users then go without loopback. */
static void
publish_computer(ae_ctx *ctx, const ae_conf *conf, const ae_policy *p, const ae_gp_settings *s)
{
	char *path = computer_file(conf);
	ae_gp_computer c = { .computer_dn = p->account.dn, .mode = s->user_policy_mode.set ? s->user_policy_mode.value : 0,
		             .mode_gpo = s->user_policy_mode.set ? s->user_policy_mode.gpo : NULL };
	char *text = ae_gp_computer_format(&c), *dir = path ? strdup(path) : NULL, *slash = dir ? strrchr(dir, '/') : NULL;

	if (slash != NULL && slash != dir) {
		*slash = '\0';
		(void)mkdir(dir, 0755); /* the last component; ae_write_file_atomic checks it */
	}
	if (text == NULL || dir == NULL || ae_write_file_atomic(ctx, path, text, strlen(text), 0644) != AE_OK)
		ae_log(ctx, AE_LOG_WARNING, "users' loopback processing: cannot publish the computer's Group Policy: %s",
		       text && dir ? ae_get_message(ctx) : "out of memory");
	ae_clear_message(ctx);
	free(text);
	free(dir);
	free(path);
}

/* PATH as root left it for users: a regular file (not a link), root's and
 * writable by no one else, in a directory likewise; *WHY when it is not. */
static bool
read_computer_file(const char *path, ae_gp_computer *c, char **why)
{
	char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL, buf[8192];
	struct stat st, dst;
	ssize_t len;
	int fd;
	bool ok = false;

	*why = NULL;
	if (slash != NULL)
		slash[slash == dir ? 1 : 0] = '\0';
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT) /* none: the machine has published nothing, no loopback */
			*why = ae_strdup_printf("%s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022) || dir == NULL ||
	    stat(dir, &dst) != 0 || dst.st_uid != 0 || (dst.st_mode & 022)) {
		*why = ae_strdup_printf("%s: not root's alone (the file and its directory must belong to root and be "
		                        "writable by no one else): ignored", path);
		goto out;
	}
	len = read(fd, buf, sizeof(buf));
	if (len < 0 || (size_t)len == sizeof(buf) || !ae_gp_computer_parse(buf, (size_t)len, c)) {
		*why = ae_strdup_printf("%s: unreadable or malformed: ignored", path);
		goto out;
	}
	ok = true;
out:
	if (fd >= 0)
		close(fd);
	free(dir);
	return ok;
}

/* A user's list under loopback (MS-GPOL 3.2.5.1, "Loopback"): replaced by,
 * or merged with, the GPOs of the computer's SOMs filtered against the
 * user's token in user mode. */
static ae_err
apply_loopback(ae_ctx *ctx, const ae_conf *conf, ae_policy_source *src, const ae_policy *p, ae_gp_result *r)
{
	ae_gpo_list *computer = NULL, *merged = NULL;
	ae_err err;

	if ((r->loopback_file = computer_file(conf)) == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	if (!read_computer_file(r->loopback_file, &r->loopback, &r->loopback_problem)) {
		if (r->loopback_problem != NULL)
			ae_log(ctx, AE_LOG_WARNING, "loopback processing: %s", r->loopback_problem);
		return AE_OK;
	}
	if (r->loopback.mode != AE_GPO_LOOPBACK_MERGE && r->loopback.mode != AE_GPO_LOOPBACK_REPLACE)
		return AE_OK;
	err = ae_policy_source_read_gpo(ctx, src, r->loopback.computer_dn, &r->lb_soms, &r->n_lb_soms, &r->lb_objs,
	                                &r->n_lb_objs);
	if (err == AE_OK)
		err = ae_gpo_compute(ctx, r->lb_soms, r->n_lb_soms, r->lb_objs, r->n_lb_objs, &p->account.token, false,
		                     &computer);
	if (err == AE_OK)
		err = ae_gpo_loopback(ctx, r->list, computer, r->loopback.mode, &merged);
	ae_gpo_list_free(computer);
	if (err != AE_OK)
		return ae_prefix_message(ctx, err, "loopback processing (the computer %s, %s)", r->loopback.computer_dn,
		                         r->loopback_file);
	ae_gpo_list_free(r->list);
	r->list = merged;
	return AE_OK;
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
	if (err == AE_OK && !machine)
		err = apply_loopback(ctx, conf, src, p, r);
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
	if (err == AE_OK && machine)
		publish_computer(ctx, conf, p, r->settings);
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

/* Appends to *NOTES one event about GPO G, the message from FMT. */
static bool
note_add(ae_gp_note **notes, size_t *n, ae_event_kind kind, const ae_gpo_result *g, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static bool
note_add(ae_gp_note **notes, size_t *n, ae_event_kind kind, const ae_gpo_result *g, const char *fmt, ...)
{
	ae_gp_note *grown = realloc(*notes, (*n + 1) * sizeof(**notes));
	va_list ap;
	char *msg = NULL;

	if (grown == NULL)
		return false;
	*notes = grown;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	grown[*n] = (ae_gp_note){ .kind = kind, .gpo = strdup(g->obj->name), .message = msg };
	(*n)++;
	return grown[*n - 1].gpo != NULL && msg != NULL;
}

ae_err
ae_gp_pulse_settings(ae_ctx *ctx, const ae_conf *conf, ae_policy_source *src, const ae_policy *policy,
                     bool machine, ae_gp_settings **settings, ae_gp_note **notes, size_t *n_notes)
{
	ae_gp_result *r = NULL;
	ae_err err;
	bool ok = true;

	*settings = NULL;
	*notes = NULL;
	*n_notes = 0;
	if ((err = ae_gp_read(ctx, conf, src, policy, machine, &r)) != AE_OK)
		return err;
	/* The journal's: a GPO read anew (new or changed), one that SYSVOL
	 * could not give (its cached copy applies), one whose file is damaged. */
	for (size_t i = 0; ok && i < r->list->n_ordered; i++) {
		const ae_gpo_result *g = &r->list->items[i];
		const char *half = machine ? "computer" : "user";
		if (g->status != AE_GPO_APPLIED || g->obj == NULL)
			continue;
		if (r->problem[i] != NULL)
			ok = note_add(notes, n_notes, AE_EV_GP_READ_FAILED, g, "%s: nothing of it applies", r->problem[i]);
		else if (r->source[i] == AE_SYSVOL_STALE)
			ok = note_add(notes, n_notes, AE_EV_GP_READ_FAILED, g,
			              "Group Policy \"%s\": SYSVOL unreachable, its %s settings cached before apply "
			              "(AD has version %u)", g->obj->name, half,
			              machine ? g->obj->version & 0xffffu : g->obj->version >> 16);
		else if (r->source[i] == AE_SYSVOL_SMB)
			ok = note_add(notes, n_notes, AE_EV_GP_APPLIED, g,
			              "Group Policy \"%s\" (version %u) read from SYSVOL: its %s settings apply",
			              g->obj->name, machine ? g->obj->version & 0xffffu : g->obj->version >> 16, half);
	}
	if (!ok) {
		ae_gp_notes_free(*notes, *n_notes);
		*notes = NULL;
		*n_notes = 0;
		ae_gp_result_free(r);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; r->settings->problems != NULL && r->settings->problems[i] != NULL; i++)
		ae_log(ctx, AE_LOG_WARNING, "Group Policy: %s", r->settings->problems[i]);
	if (r->settings->aepolicy.set)
		ae_log(ctx, AE_LOG_INFO, "AEPolicy 0x%x from Group Policy \"%s\"", (unsigned)r->settings->aepolicy.value,
		       r->settings->aepolicy.gpo);
	*settings = r->settings;
	r->settings = NULL;
	ae_gp_result_free(r);
	return AE_OK;
}

void
ae_gp_diag(ae_ctx *ctx, const ae_conf *conf, ae_policy_source *src, const ae_policy *p, bool machine,
           ae_diag_report *r)
{
	static const char *const source_text[] = { "read over SMB", "cached copy, same version",
	                                           "SYSVOL unreachable: the last cached copy" };
	ae_gp_result *gp = NULL;
	ae_diag_check *c;
	size_t applied = 0, bad = 0, stale = 0;

	ae_diag_begin(r);
	if (ae_gp_read(ctx, conf, src, p, machine, &gp) != AE_OK) {
		c = ae_diag_add(r, "group-policy", "Group Policy", AE_DIAG_FAIL,
		                "the GPOs that apply could not be read: %s", ae_get_message(ctx));
		ae_diag_fix(c, NULL, "check that the DC serves the GPO containers and SYSVOL (smbclient -k //DC/SYSVOL), "
		            "or set group_policy = no in [global] on hosts outside Group Policy");
		return;
	}
	for (size_t i = 0; i < gp->list->n_ordered; i++) {
		if (gp->list->items[i].status != AE_GPO_APPLIED)
			continue;
		applied++;
		if (gp->problem[i] != NULL)
			bad++;
		else if (gp->source[i] == AE_SYSVOL_STALE)
			stale++;
	}
	if (bad > 0)
		c = ae_diag_add(r, "group-policy", "Group Policy", AE_DIAG_WARN,
		                "%zu of the %zu GPOs that apply could not be used (nothing of them applies)", bad, applied);
	else if (stale > 0)
		c = ae_diag_add(r, "group-policy", "Group Policy", AE_DIAG_WARN,
		                "SYSVOL could not be read: %zu of the %zu GPOs that apply come from the copies cached before",
		                stale, applied);
	else
		c = ae_diag_add(r, "group-policy", "Group Policy", AE_DIAG_PASS, "%zu GPO%s appl%s to the %s%s", applied,
		                applied == 1 ? "" : "s", applied == 1 ? "ies" : "y", machine ? "machine" : "user",
		                gp->settings->aepolicy.set ? "" : "; none sets autoenrollment (AEPolicy): autoenroll.conf's aepolicy holds");
	if (bad > 0 || stale > 0)
		ae_diag_fix(c, "autoenroll gpo", "make SYSVOL readable over SMB with Kerberos from this host, then see which GPO "
		            "fails");
	for (size_t i = 0; i < gp->list->n_ordered; i++) {
		const ae_gpo_result *g = &gp->list->items[i];
		const char *name = g->obj != NULL ? g->obj->name : g->dn;
		if (g->status != AE_GPO_APPLIED)
			ae_diag_detail(c, name, "not applied: %s", ae_gpo_status_text(g->status));
		else if (gp->problem[i] != NULL)
			ae_diag_detail(c, name, "applied, its file unusable: %s", gp->problem[i]);
		else
			ae_diag_detail(c, name, "applied (%s)", gp->source[i] >= 0 && gp->source[i] <= AE_SYSVOL_STALE
			               ? source_text[gp->source[i]] : "no Registry.pol");
	}
	if (gp->settings->aepolicy.set)
		ae_diag_detail(c, "AEPolicy", "0x%x from \"%s\"", (unsigned)gp->settings->aepolicy.value,
		               gp->settings->aepolicy.gpo);
	ae_gp_result_free(gp);
}
