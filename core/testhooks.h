/*
 * testhooks.h - what the tests may steer from the environment: a crash at
 * a named point, a shifted clock, forced RPC fragment sizes.
 *
 * Compiled in only with AE_TEST_HOOKS, which the libraries and programs
 * built for the tests define (libaecore_test, tests/bin/); the installed
 * programs have no hook and no AE_TEST_ name in them.
 */
#ifndef AE_TESTHOOKS_H
#define AE_TESTHOOKS_H

#ifdef AE_TEST_HOOKS
/* $AE_TEST_<NAME> (secure_getenv), or NULL. */
const char *ae_test_env(const char *name);
/* When $AE_TEST_CRASH_AT names POINT (or is "#N" and this is the Nth point
 * reached), the process dies here by SIGKILL,
 * so tests can prove crash safety at every step. */
void ae_test_crash_point(const char *point);
#else
#define ae_test_env(name) ((const char *)NULL)
#define ae_test_crash_point(point) ((void)0)
#endif

#endif
