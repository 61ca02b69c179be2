/*
 * diag.c - the report of `autoenroll diagnose` (see diag.h).
 */
#include "config.h"

#include "diag.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double
now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
ae_diag_init(ae_diag_report *r)
{
	memset(r, 0, sizeof(*r));
	r->started = now_mono();
}

void
ae_diag_clear(ae_diag_report *r)
{
	for (size_t i = 0; i < r->count; i++) {
		ae_diag_check *c = &r->checks[i];
		free(c->id);
		free(c->title);
		free(c->cause);
		free(c->fix);
		free(c->command);
		ae_strv_free(c->details);
	}
	free(r->checks);
	memset(r, 0, sizeof(*r));
}

void
ae_diag_begin(ae_diag_report *r)
{
	r->started = now_mono();
}

ae_diag_check *
ae_diag_add(ae_diag_report *r, const char *id, const char *title, ae_diag_status status, const char *fmt, ...)
{
	ae_diag_check *c;
	va_list ap;

	if (r->count == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 32;
		ae_diag_check *n = realloc(r->checks, cap * sizeof(*n));
		if (n == NULL)
			return NULL;
		r->checks = n;
		r->cap = cap;
	}
	c = &r->checks[r->count];
	memset(c, 0, sizeof(*c));
	c->id = strdup(id);
	c->title = strdup(title);
	c->status = status;
	va_start(ap, fmt);
	if (vasprintf(&c->cause, fmt, ap) < 0)
		c->cause = NULL;
	va_end(ap);
	c->seconds = now_mono() - r->started;
	if (c->id == NULL || c->title == NULL || c->cause == NULL) {
		free(c->id);
		free(c->title);
		free(c->cause);
		return NULL;
	}
	r->count++;
	r->started = now_mono();
	return c;
}

void
ae_diag_fix(ae_diag_check *c, const char *command, const char *fmt, ...)
{
	va_list ap;

	if (c == NULL)
		return;
	free(c->fix);
	va_start(ap, fmt);
	if (vasprintf(&c->fix, fmt, ap) < 0)
		c->fix = NULL;
	va_end(ap);
	free(c->command);
	c->command = command ? strdup(command) : NULL;
}

void
ae_diag_detail(ae_diag_check *c, const char *name, const char *fmt, ...)
{
	char *value = NULL;
	va_list ap;

	if (c == NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(&value, fmt, ap) < 0)
		value = NULL;
	va_end(ap);
	if (value != NULL && ae_strv_append(&c->details, name))
		ae_strv_append(&c->details, value);
	free(value);
}

ae_diag_status
ae_diag_worst(const ae_diag_report *r)
{
	ae_diag_status w = AE_DIAG_PASS;
	for (size_t i = 0; i < r->count; i++)
		if (r->checks[i].status != AE_DIAG_SKIP && r->checks[i].status > w)
			w = r->checks[i].status;
	return w;
}

ae_diag_status
ae_diag_status_of(const ae_diag_report *r, const char *id)
{
	for (size_t i = 0; i < r->count; i++)
		if (strcmp(r->checks[i].id, id) == 0)
			return r->checks[i].status;
	return AE_DIAG_SKIP;
}

const char *
ae_diag_status_name(ae_diag_status s)
{
	static const char *const names[] = { "pass", "warn", "fail", "skip" };
	return (unsigned)s < 4 ? names[s] : "?";
}
