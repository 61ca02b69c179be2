#!/bin/bash
# pending.sh - a user's second pulse while a request is pending: alice's
# first pulse (fresh state directory, policy_refresh = 600) enrolls her
# templates and leaves LabPending pending at the CA (CA manager approval);
# then N pulses in a row are timed.  Prints the median wall time (ms,
# including "labctl run" and process start), the time inside the pulse,
# and the LDAP and RPC round trips (from the pulse's --json), for each
# build given: run it with the build before a change and the one after.
#   tests/bench/pending.sh [BUILDDIR...]     (default: $BUILDDIR or the source tree)
# N runs each: $AE_BENCH_RUNS (default 7).  Run as root; asserts nothing.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
labctl=$top/tests/lab/labctl
runs=${AE_BENCH_RUNS:-7}
[ $# -gt 0 ] || set -- "${BUILDDIR:-$top}"
for b in "$@"; do
	[ -x "$b/autoenroll-user" ] || { echo "build first: $b/autoenroll-user not found" >&2; exit 1; }
done
$labctl up >/dev/null
. <($labctl env)
tmp=$(mktemp -d /tmp/ae-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
for b in "$@"; do
	d=$tmp/$RANDOM
	mkdir -p "$d"
	printf '[global]\npolicy_refresh = 600\n[user]\nstate_dir = %s/u\n[machine]\nkeytab = %s/ws1.keytab\n' \
		"$d" "$AE_LAB_DIR" >"$d/conf"
	pulse() { $labctl run --user alice -- env AE_JOURNAL_SOCKET=- "$b/autoenroll-user" --json -c "$d/conf" >"$d/r.json" || true; }
	pulse
	jq -e '.counts.pending >= 1' "$d/r.json" >/dev/null || { echo "$b: the first pulse left nothing pending" >&2; exit 1; }
	: >"$d/out"
	for _ in $(seq "$runs"); do
		t0=$(date +%s%N)
		pulse
		t1=$(date +%s%N)
		jq -r --arg ms $(((t1 - t0) / 1000000)) '"\($ms) \(.milliseconds) \(.ldap_round_trips) \(.rpc_round_trips) \(.nothing_to_do)"' "$d/r.json" >>"$d/out"
	done
	printf '%s\n  alice, request pending, next pulse: median %5s ms wall (%s ms in the pulse), LDAP %s, RPC %s round trips, nothing_to_do %s\n' \
		"$b" "$(cut -d' ' -f1 "$d/out" | median)" "$(cut -d' ' -f2 "$d/out" | median)" \
		"$(cut -d' ' -f3 "$d/out" | median)" "$(cut -d' ' -f4 "$d/out" | median)" "$(cut -d' ' -f5 "$d/out" | sort | uniq -c | tr -s ' ' | tr '\n' ' ')"
done
echo "(wall time includes labctl run and process start; the lab runs on loopback in a network namespace)"
