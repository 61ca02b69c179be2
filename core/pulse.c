/*
 * pulse.c - the per-context pulse lock and the coalescing of triggers.
 *
 * A trigger that finds the lock taken leaves DIR/pulse.again and tries
 * the lock once more; the holder removes pulse.again before each run and
 * looks for it after each run, also after letting go of the lock, so a
 * trigger is never lost between the two.
 */
#include "config.h"

#include "local.h"
#include "pulse.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_RUNS 3

ae_err
ae_pulse_state_dir(ae_ctx *ctx, const ae_conf *conf, bool machine, char **out)
{
	ae_local l;
	ae_err err;

	*out = NULL;
	if ((err = ae_local_init(ctx, conf, machine, &l)) != AE_OK)
		return err;
	*out = l.state_dir;
	l.state_dir = NULL;
	ae_local_clear(&l);
	return AE_OK;
}

static void
touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0)
		close(fd);
}

static void
save_result(ae_ctx *ctx, const char *dir, const ae_pulse_result *r)
{
	char path[4096];
	char *json = ae_pulse_result_json(r);

	if (json == NULL)
		return;
	snprintf(path, sizeof(path), "%s/last-pulse.json", dir);
	if (ae_write_file_atomic(ctx, path, json, strlen(json), 0600) != AE_OK) {
		ae_log(ctx, AE_LOG_WARNING, "%s", ae_get_message(ctx));
		ae_clear_message(ctx);
	}
	free(json);
}

ae_err
ae_pulse_locked(ae_ctx *ctx, const ae_conf *conf, const ae_engine_opts *opts, bool wait, ae_pulse_outcome *outcome,
                ae_pulse_result **result)
{
	char *dir = NULL;
	char lock_path[4096], again_path[4096];
	ae_store *st = NULL;
	ae_pulse_result *res = NULL;
	int fd = -1, runs = 0;
	ae_err err;

	*result = NULL;
	*outcome = AE_PULSE_RAN;
	if ((err = ae_pulse_state_dir(ctx, conf, opts->machine, &dir)) != AE_OK)
		return err;
	/* Creates the directory with the right mode and checks its owner. */
	if ((err = ae_store_open(ctx, dir, true, &st)) != AE_OK)
		goto cleanup;
	snprintf(lock_path, sizeof(lock_path), "%s/pulse.lock", dir);
	snprintf(again_path, sizeof(again_path), "%s/pulse.again", dir);
	fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		err = ae_set_message(ctx, AE_ERR_IO, "%s: %s", lock_path, strerror(errno));
		goto cleanup;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (!wait) {
			touch(again_path);
			if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
				*outcome = AE_PULSE_COALESCED;
				ae_log(ctx, AE_LOG_INFO, "a pulse is running: it runs once more for this trigger");
				goto cleanup;
			}
		} else if (flock(fd, LOCK_EX) != 0) {
			err = ae_set_message(ctx, AE_ERR_IO, "%s: %s", lock_path, strerror(errno));
			goto cleanup;
		}
	}
	for (;;) {
		unlink(again_path);
		ae_pulse_result_free(res);
		res = NULL;
		if ((err = ae_engine_pulse(ctx, conf, opts, &res)) != AE_OK)
			break;
		save_result(ctx, dir, res);
		if (++runs >= MAX_RUNS)
			break;
		if (access(again_path, F_OK) == 0)
			continue;
		flock(fd, LOCK_UN);
		/* A trigger between our look and the unlock: take it on. */
		if (access(again_path, F_OK) != 0 || flock(fd, LOCK_EX | LOCK_NB) != 0)
			break;
	}
	if (err == AE_OK) {
		*result = res;
		res = NULL;
	}
cleanup:
	if (fd >= 0)
		close(fd);
	ae_pulse_result_free(res);
	ae_store_free(st);
	free(dir);
	return err;
}
