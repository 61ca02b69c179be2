#!/bin/bash
# decide.sh - the time to decide 1,000 templates for a token of 5,000 SIDs
# with the pure decision functions (tests/bench/decide.c: access checks on
# the templates' real security descriptors, publication, exclusions,
# supersedence), no network and no lab.  Goal: at most 50 ms.
#   tests/bench/decide.sh [TEMPLATES [SIDS [RUNS]]]
# Builds build/tests/bench/decide if needed; prints the figures.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILDDIR:-$top/build}
[ -f "$build/Makefile" ] || { echo "configure a build in $build first (see README)" >&2; exit 1; }
make -s -C "$build" tests/bench/decide >/dev/null
"$build/tests/bench/decide" "${1:-1000}" "${2:-5000}" "${3:-21}"
