#!/bin/bash
# policy.sh - figures for the foundation: time of "labctl up" from nothing
# (down first) and again when already up, and median wall time and peak RSS
# of "autoenroll policy" for alice and for the machine over N runs
# (default 15).  Run as root after building (build/autoenroll or $AUTOENROLL).
# Prints the figures; measures, asserts nothing.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
labctl=$top/tests/lab/labctl
ae=${AUTOENROLL:-$top/build/autoenroll}
runs=${1:-15}
[ -x "$ae" ] || { echo "build first: $ae not found" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (package time)" >&2; exit 1; }

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

if [ "${AE_BENCH_KEEP_LAB:-0}" != 1 ]; then
	$labctl down >/dev/null 2>&1 || true
	for i in 1 2 3; do
		s=$(date +%s.%N)
		$labctl up >/dev/null
		e=$(date +%s.%N)
		echo "labctl up from nothing, run $i: $(echo "$e - $s" | bc) s"
		[ "$i" -lt 3 ] && $labctl down >/dev/null
	done
fi
s=$(date +%s.%N); $labctl up >/dev/null; e=$(date +%s.%N)
echo "labctl up when already up: $(echo "$e - $s" | bc) s"

bench() { # bench LABEL LABCTL-RUN-OPTS... -- CMD...
	local label=$1 tmp
	shift
	tmp=$(mktemp)
	# warm-up (first GSS-API ticket for ldap/ is then in the cache, as at a
	# second pulse; the first run is reported separately)
	for i in $(seq "$runs"); do
		$labctl run "$@" /usr/bin/time -f '%e %M' -a -o "$tmp" "$ae" policy ${AE_BENCH_ARGS:-} >/dev/null 2>&1
	done
	echo "$label: first run $(head -1 "$tmp" | cut -d' ' -f1) s;" \
	     "median of $runs: $(cut -d' ' -f1 "$tmp" | median) s wall," \
	     "peak RSS median $(cut -d' ' -f2 "$tmp" | median) KiB, max $(cut -d' ' -f2 "$tmp" | sort -n | tail -1) KiB"
	rm -f "$tmp"
}
bench "autoenroll policy (alice)" --user alice --
AE_BENCH_ARGS=--machine bench "autoenroll policy --machine" --machine --
$labctl run --user alice -- "$ae" policy --json | jq -r '"LDAP round trips per policy read: \(.summary.ldap_round_trips); templates: \(.templates|length)"'
