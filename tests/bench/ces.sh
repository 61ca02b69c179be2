#!/bin/bash
# ces.sh - one enrollment (LabUser, RSA-2048, alice, file store) over CES
# (MS-WSTEP over HTTPS with Negotiate, the lab's CEP/CES: labctl ces up)
# next to the same over MS-ICPR, in the same run: median wall time of
# "autoenroll enroll" and the round trips to the CA it reports (RPC PDUs
# answered for MS-ICPR, HTTP exchanges for CES; TCP and TLS handshakes
# not counted).  Both read the policy from AD first (5 LDAP round trips);
# a third, CEP+CES, reads it from the CEP instead (--policy-server, MS-XCEP
# GetPolicies, its answer not cached between runs) and enrolls through
# the CES the policy names: no LDAP at all.
# N runs each, alternated (default 9).  Run as root after building.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
labctl=$top/tests/lab/labctl
ae=${AUTOENROLL:-$top/build/autoenroll}
runs=${1:-9}
[ -x "$ae" ] || { echo "build first: $ae not found" >&2; exit 1; }
$labctl up >/dev/null
$labctl ces up >/dev/null
. <($labctl env)
tmp=$(mktemp -d /tmp/ae-bench.XXXXXX)
trap 'rm -rf "$tmp"; $labctl ces down >/dev/null' EXIT
printf '[user]\nstate_dir = %s/state\n[global]\npolicy_refresh = 0\n[machine]\ntrust_dir = %s/trust\n' "$tmp" "$tmp" >"$tmp/ae.conf"
mkdir -p "$tmp/trust" && cp "$AE_LAB_DIR/pki/root.pem" "$tmp/trust/roots.pem"   # AD's roots, as a pulse keeps them
chmod -R a+rwX "$tmp" && chmod 755 "$tmp" && chmod 644 "$tmp/ae.conf"   # root reads ae.conf only if others cannot write it
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
: >"$tmp/icpr" && : >"$tmp/ces" && : >"$tmp/cep"
for i in $(seq "$runs"); do
	for t in icpr ces cep; do
		extra=()
		[ "$t" = ces ] && extra=(--ces "$AE_LAB_CES_URL")
		[ "$t" = cep ] && extra=(--policy-server "$AE_LAB_CEP_URL") && rm -f "$tmp"/state/cep-*.xml
		$labctl run --user alice -- /usr/bin/time -f '%e' -o "$tmp/time" \
			"$ae" enroll -v -c "$tmp/ae.conf" --template LabUser "${extra[@]}" \
			>/dev/null 2>"$tmp/err" || { echo "$t failed: $(tail -2 "$tmp/err")" >&2; exit 1; }
		trips=$(sed -n 's/.* over .*: \([0-9]*\) round trips/\1/p' "$tmp/err")
		echo "$(cat "$tmp/time") $trips" >>"$tmp/$t"
	done
done
for t in icpr ces cep; do
	printf '%-8s median %.3f s wall of autoenroll enroll, %s round trips to the CA (%s runs)\n' \
		"$(case $t in icpr) echo MS-ICPR ;; ces) echo CES ;; *) echo CEP+CES ;; esac)" "$(cut -d' ' -f1 "$tmp/$t" | median)" \
		"$(cut -d' ' -f2 "$tmp/$t" | median)" "$runs"
done
