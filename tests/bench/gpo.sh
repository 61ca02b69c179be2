#!/bin/bash
# gpo.sh - figures for Group Policy (issue 15): the machine's Group Policy
# step (autoenroll gpo --machine --json: which GPOs apply, their
# Registry.pol, the settings), time and round trips (LDAP searches, SMB
# files and connections) on a first read (empty cache) and on a read with
# unchanged versions (cached: no SMB), median of N runs (default 9); then
# wall time and peak RSS of machine pulses with Group Policy (the first one
# enrolls, the others have nothing to do).  Four GPOs as a small domain has
# them (two on the domain, one enforced; one on the workstation's OU, one
# on the users' OU), made with samba-tool and removed at the end.  Run as
# root after building (build/autoenroll or $AUTOENROLL), with the lab's
# variables (AE_LAB_DIR, AE_LAB_NETNS) when not the default lab.  Prints
# the figures; measures, asserts nothing.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
LABCTL=$top/tests/lab/labctl
ae=${AUTOENROLL:-$top/build/autoenroll}
bin=$(dirname "$ae")
runs=${1:-9}
[ -x "$ae" ] && [ -x "$bin/autoenroll-machine" ] || { echo "build first: $ae not found" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (package time)" >&2; exit 1; }
"$LABCTL" up >/dev/null
. <("$LABCTL" env)
TEST_TMP=$(mktemp -d /tmp/ae-bench-gpo.XXXXXX)
diag() { printf '%s\n' "$@" >&2; }
. "$top/tests/integration/gpo-lib.sh"
DOM=${AE_LAB_DOMAIN_DN:-DC=corp,DC=test}
cleanup() {
	for g in $ALL; do st gpo del "$g" >/dev/null 2>&1 || true; done
	rm -rf "$TEST_TMP"
}
trap cleanup EXIT

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

{
	gpo_add G1 "Bench Domain" 0 && st gpo setlink "$DOM" "$G1" &&
	gpo_add G2 "Bench Enforced" 0 && st gpo setlink "$DOM" "$G2" --enforce &&
	gpo_add G3 "Bench Workstations" 0 && st gpo setlink "OU=Workstations,$DOM" "$G3" &&
	gpo_add G4 "Bench Staff" 0 && st gpo setlink "OU=Staff,$DOM" "$G4" &&
	pol "$G1" Machine 65537 "$AEK|AEPolicy|4|7" &&
	pol "$G2" Machine 65537 "$AEK|OfflineExpirationPercent|4|20" &&
	pol "$G3" Machine 65537 "$AEK|AEPolicy|4|7" &&
	pol "$G4" User 65537 "$AEK|AEPolicy|4|7"
} >"$TEST_TMP/setup.log" 2>&1 || { tail -5 "$TEST_TMP/setup.log" >&2; exit 1; }

conf() { # FILE STATE_DIR
	printf '[global]\ndomain = %s\nldap_timeout = 10\nrpc_timeout = 30\npolicy_refresh = 0\ncomputer_gp_file = %s\n[machine]\nkeytab = %s\nstate_dir = %s\n' \
		"$AE_LAB_DOMAIN" "$TEST_TMP/pub/computer-gp" "$AE_LAB_DIR/ws1.keytab" "$2" >"$1"
}
step() { # CONF OUT: one GP step, "ms ldap_round_trips smb_files smb_sessions cached"
	"$LABCTL" run --machine -- "$ae" -c "$1" gpo --machine --json >"$2"
	jq -r '"\(.duration_ms + .sysvol.duration_ms) \(.round_trips) \(.sysvol.smb_files) \(.sysvol.smb_sessions) \(.sysvol.cached)"' "$2"
}
report() { # LABEL FILE
	echo "$1 (median of $runs): $(cut -d' ' -f1 "$2" | median) ms," \
	     "LDAP $(cut -d' ' -f2 "$2" | median) round trips, SMB $(cut -d' ' -f3 "$2" | median) files over" \
	     "$(cut -d' ' -f4 "$2" | median) connections, $(cut -d' ' -f5 "$2" | median) from the cache"
}
: >"$TEST_TMP/first"
for i in $(seq "$runs"); do
	rm -rf "$TEST_TMP/m$i"
	conf "$TEST_TMP/c$i.conf" "$TEST_TMP/m$i"
	step "$TEST_TMP/c$i.conf" "$TEST_TMP/first.json" >>"$TEST_TMP/first"
done
report "machine Group Policy step, first read (empty cache)" "$TEST_TMP/first"
: >"$TEST_TMP/cached"
for i in $(seq "$runs"); do
	step "$TEST_TMP/c1.conf" "$TEST_TMP/cached.json" >>"$TEST_TMP/cached"
done
report "machine Group Policy step, unchanged versions (cached)" "$TEST_TMP/cached"
echo "GPOs applied to the machine: $(jq '[.gpos[] | select(.applied)] | length' "$TEST_TMP/cached.json")," \
     "AEPolicy $(jq -r .settings.aepolicy "$TEST_TMP/cached.json") from \"$(jq -r .settings.aepolicy_gpo "$TEST_TMP/cached.json")\""

: >"$TEST_TMP/rss"
for i in $(seq "$runs"); do
	"$LABCTL" run --machine -- env AUTOENROLL_LIBEXECDIR="$bin" /usr/bin/time -f '%e %M' -a -o "$TEST_TMP/rss" \
		"$bin/autoenroll-machine" --json -c "$TEST_TMP/c1.conf" >"$TEST_TMP/pulse$i.json" 2>/dev/null || true
done
echo "machine pulse with Group Policy: first $(head -1 "$TEST_TMP/rss" | cut -d' ' -f1) s" \
     "($(jq -r '.counts.enrolled' "$TEST_TMP/pulse1.json") enrolled), $(head -1 "$TEST_TMP/rss" | cut -d' ' -f2) KiB peak RSS;" \
     "median of $runs: $(cut -d' ' -f1 "$TEST_TMP/rss" | median) s, peak RSS $(cut -d' ' -f2 "$TEST_TMP/rss" | median) KiB," \
     "max $(cut -d' ' -f2 "$TEST_TMP/rss" | sort -n | tail -1) KiB"
