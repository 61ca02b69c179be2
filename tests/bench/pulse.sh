#!/bin/bash
# pulse.sh - the engine's figures: median wall time of a first machine
# pulse (fresh state directory: policy, trust, every eligible machine
# template enrolled) and of a pulse with nothing to do (within
# policy_refresh: the cheap check), with the LDAP and RPC round trips each
# makes (from the pulse's own --json result), plus a full pulse that finds
# nothing to do (policy re-read, policy_refresh = 0).  Also alice's first
# user pulse.  N runs each (default 7).  Run as root after building.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
labctl=$top/tests/lab/labctl
bld=${BUILDDIR:-$top}
runs=${1:-7}
[ -x "$bld/autoenroll-machine" ] || { echo "build first: $bld/autoenroll-machine not found" >&2; exit 1; }
$labctl up >/dev/null
. <($labctl env)
tmp=$(mktemp -d /tmp/ae-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
conf() { # NAME REFRESH
	printf '[global]\npolicy_refresh = %s\n[machine]\nkeytab = %s/ws1.keytab\nstate_dir = %s/%s/m\n[user]\nstate_dir = %s/%s/u\n' \
		"$2" "$AE_LAB_DIR" "$tmp" "$1" "$tmp" "$1" >"$tmp/$1.conf"
}
run() { # CONTEXT CONF -> appends "ms ldap rpc enrolled" to $tmp/out
	local t0 t1
	t0=$(date +%s%N)
	if [ "$1" = machine ]; then
		$labctl run --machine -- env AE_JOURNAL_SOCKET=- "$bld/autoenroll-machine" --json -c "$2" >"$tmp/r.json"
	else
		$labctl run --user alice -- env AE_JOURNAL_SOCKET=- "$bld/autoenroll-user" --json -c "$2" >"$tmp/r.json"
	fi
	t1=$(date +%s%N)
	jq -r --arg ms $(((t1 - t0) / 1000000)) '"\($ms) \(.ldap_round_trips) \(.rpc_round_trips) \(.counts.enrolled) \(.milliseconds)"' "$tmp/r.json" >>"$tmp/out"
}
report() { # LABEL
	printf '%-44s median %5s ms wall (%s ms in the pulse), LDAP %s, RPC %s round trips, %s enrolled\n' "$1" \
		"$(cut -d' ' -f1 "$tmp/out" | median)" "$(cut -d' ' -f5 "$tmp/out" | median)" \
		"$(cut -d' ' -f2 "$tmp/out" | median)" "$(cut -d' ' -f3 "$tmp/out" | median)" "$(cut -d' ' -f4 "$tmp/out" | median)"
	: >"$tmp/out"
}
: >"$tmp/out"
for i in $(seq "$runs"); do conf "first$i" 600; run machine "$tmp/first$i.conf"; done
report "machine, first pulse"
for i in $(seq "$runs"); do run machine "$tmp/first1.conf"; done
report "machine, nothing to do (policy cached)"
conf full 0
run machine "$tmp/full.conf"; : >"$tmp/out"
for i in $(seq "$runs"); do run machine "$tmp/full.conf"; done
report "machine, nothing to do (policy re-read)"
for i in $(seq "$runs"); do conf "u$i" 600; run user "$tmp/u$i.conf"; done
report "alice, first pulse (all her templates)"
for i in $(seq "$runs"); do run user "$tmp/u1.conf"; done
report "alice, nothing to do (policy cached)"
echo "(wall time includes labctl run and process start; the lab runs on loopback in a network namespace)"
