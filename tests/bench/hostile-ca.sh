#!/bin/bash
# hostile-ca.sh - the hostile-CA table: for each `labctl ca-mode` (and the
# normal CA first, the yardstick), what `autoenroll enroll --template
# LabUser` said as alice (shortened), its wall time and its peak RSS
# (/usr/bin/time -f %M), from one run of tests/integration/lab-hostile.sh
# (rpc_timeout = 3 s, key on a SoftHSM2 token), which also asserts that
# every mode is refused with nothing stored.  Run as root after building
# the test programs (make check TESTS= in the build directory, $AE_BUILDDIR,
# default build/).  AE_LAB_DIR/AE_LAB_NETNS choose the lab as for labctl.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
builddir=${AE_BUILDDIR:-$top/build}
[ -x "$builddir/tests/bin/autoenroll" ] ||
	{ echo "build first: $builddir/tests/bin/autoenroll not found (make check TESTS=)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/ae-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/table"
top_srcdir=$top top_builddir=$builddir AE_HOSTILE_TABLE=$tmp/table \
	bash "$top/tests/integration/lab-hostile.sh" >"$tmp/tap" 2>&1 || true
printf '%-15s %-74s %8s %9s\n' MODE OUTCOME 'WALL s' 'PEAK RSS'
while IFS='|' read -r mode msg secs rss; do
	msg=${msg#autoenroll: }
	msg=${msg#submitting to CA CORP-CA1 on ca1.corp.test: }
	[ ${#msg} -le 74 ] || msg="${msg:0:71}..."
	printf '%-15s %-74s %8.2f %6s KB\n' "$mode" "$msg" "$secs" "$rss"
done <"$tmp/table"
printf '\nlab-hostile.sh: %s passed, %s failed\n' "$(grep -c '^ok' "$tmp/tap")" "$(grep -c '^not ok' "$tmp/tap")"
grep '^not ok' "$tmp/tap" || true
