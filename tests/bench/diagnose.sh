#!/bin/bash
# diagnose.sh - figures for `autoenroll diagnose`: the number of checks and
# the median wall time over N runs (default 9) for the machine and for
# alice in a healthy lab; then with the CA stopped (its ports refuse) and
# with the CA unreachable (its packets dropped in the lab's namespace, so
# the endpoint mapper's connect waits for rpc_timeout, here 3 s).  Run as
# root after building (build/autoenroll or $AUTOENROLL), against the lab
# of $AE_LAB_DIR/$AE_LAB_NETNS.  Prints the figures; asserts nothing.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
labctl=$top/tests/lab/labctl
ae=${AUTOENROLL:-$top/build/autoenroll}
runs=${1:-9}
[ -x "$ae" ] || { echo "build first: $ae not found" >&2; exit 1; }
$labctl up >/dev/null
eval "$($labctl env)"
tmp=$(mktemp -d)
trap '$labctl run -- nft delete table inet aebench 2>/dev/null; $labctl fault clear >/dev/null 2>&1; rm -rf "$tmp"' EXIT
printf '[global]\nrpc_timeout = 3\n[machine]\nkeytab = %s\nstate_dir = %s/m\n[user]\nstate_dir = %s/u\n' \
	"$AE_LAB_DIR/ws1.keytab" "$tmp" "$tmp" >"$tmp/d.conf"

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

bench() { # bench LABEL RUNS LABCTL-RUN-OPTS...: diagnose's wall time, median of RUNS
	local label=$1 n=$2 i s e
	shift 2
	: >"$tmp/t"
	for i in $(seq "$n"); do
		s=$(date +%s.%N)
		$labctl run "$@" -- "$ae" diagnose --json -c "$tmp/d.conf" ${AE_BENCH_ARGS:-} >"$tmp/d.json" 2>/dev/null || true
		e=$(date +%s.%N)
		echo "$e - $s" | bc >>"$tmp/t"
	done
	echo "$label: $(jq '.checks | length' "$tmp/d.json") checks" \
	     "($(jq -r '.summary | "\(.pass) pass, \(.warn) warn, \(.fail) fail, \(.skip) skip"' "$tmp/d.json")," \
	     "exit ok: $(jq .ok "$tmp/d.json")); median of $n: $(median <"$tmp/t") s wall"
}

AE_BENCH_ARGS=--machine bench "healthy lab, machine" "$runs" --machine
bench "healthy lab, alice" "$runs" --user alice
$labctl fault ca-stop >/dev/null
AE_BENCH_ARGS=--machine bench "CA stopped (connection refused), machine" "$runs" --machine
$labctl fault clear >/dev/null
$labctl run -- nft -f - <<'NFT'
table inet aebench {
	chain out {
		type filter hook output priority 0;
		ip daddr 127.0.0.11 drop
	}
}
NFT
AE_BENCH_ARGS=--machine bench "CA unreachable (packets dropped, rpc_timeout = 3 s), machine" 3 --machine
