#!/bin/bash
# enroll.sh - median wall time and peak RSS of "autoenroll enroll" for one
# RSA-2048 (LabUser) and one P-256 (LabECDSA) certificate for alice in the
# lab (keys in the file store), next to the same request made by the
# impacket-based Python client of the lab (tests/lab/ca/icpr_client.py) in
# the same run.  Both include the Kerberos service ticket, the endpoint
# mapper, bind, key generation and the sealed CertServerRequest; ours also
# reads the policy from LDAP and verifies and stores the certificate.
# N runs each (default 9).  Run as root after building.  Prints figures.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
labctl=$top/tests/lab/labctl
ae=${AUTOENROLL:-$top/build/autoenroll}
runs=${1:-9}
[ -x "$ae" ] || { echo "build first: $ae not found" >&2; exit 1; }
$labctl up >/dev/null
. <($labctl env)
tmp=$(mktemp -d /tmp/ae-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
printf '[user]\nstate_dir = %s/state\n' "$tmp" >"$tmp/ae.conf"
oid_of() { $labctl run --user alice -- "$ae" policy --json 2>/dev/null |
	jq -r --arg t "$1" '.templates[] | select(.name==$t) | "\(.oid) \(.major).\(.minor)"'; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

measure() { # LABEL CMD...: runs CMD $runs times under /usr/bin/time inside the lab as alice
	local label=$1 f=$tmp/times
	shift
	: >"$f"
	for i in $(seq "$runs"); do
		$labctl run --user alice -- /usr/bin/time -f '%e %M' -a -o "$f" "$@" >/dev/null 2>"$tmp/err" ||
			{ echo "$label failed: $(tail -2 "$tmp/err")"; return; }
	done
	printf '%-48s median %s s wall, median peak RSS %s KiB (%s runs)\n' "$label" \
		"$(cut -d' ' -f1 "$f" | median)" "$(cut -d' ' -f2 "$f" | median)" "$runs"
}

for t in LabUser:rsa:2048 LabECDSA:ec:256; do
	IFS=: read -r name kt ks <<<"$t"
	read -r oid ver <<<"$(oid_of "$name")"
	measure "autoenroll enroll $name ($kt $ks)" "$ae" enroll -c "$tmp/ae.conf" --template "$name"
	measure "impacket client $name ($kt $ks)" /usr/bin/python3 "$top/tests/lab/ca/icpr_client.py" \
		--ca CORP-CA1 --host ca1.corp.test --kdc "$AE_LAB_DC_ADDR" --domain "$AE_LAB_REALM" \
		--template "$name" --template-oid "$oid" --template-version "$ver" \
		--key-type "$kt" --key-size "$ks"
done
