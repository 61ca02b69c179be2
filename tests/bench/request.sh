#!/bin/bash
# request.sh - median wall time of "autoenroll request" (policy read from
# the lab AD, key generation, request signing, store update) for RSA-2048
# (LabUser), RSA-4096 (LabRSA4096) and P-256 (LabECDSA), with the key on a
# SoftHSM2 token and in the file backend.  N runs each (default 7).  Run as
# root after building; starts the lab if needed.  Prints figures only.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
labctl=$top/tests/lab/labctl
ae=${AUTOENROLL:-$top/build/autoenroll}
runs=${1:-7}
MODULE=/usr/lib/softhsm/libsofthsm2.so
[ -x "$ae" ] || { echo "build first: $ae not found" >&2; exit 1; }
$labctl up >/dev/null
. <($labctl env)
tmp=$(mktemp -d /tmp/ae-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export SOFTHSM2_CONF=$tmp/softhsm2.conf
mkdir -p "$tmp/tokens"
printf 'directories.tokendir = %s/tokens\n' "$tmp" >"$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label bench --so-pin 4321 --pin 1111 >/dev/null
printf '1111' >"$tmp/pin"
for backend in softhsm2 file; do
	if [ $backend = softhsm2 ]; then
		store="pkcs11:token=bench;module-path=$MODULE?pin-source=$tmp/pin"
	else
		store="file:$tmp/files"
	fi
	printf '[global]\ndomain = corp.test\n[user]\nstore = %s\nstate_dir = %s/state-%s\n' \
		"$store" "$tmp" "$backend" >"$tmp/ae-$backend.conf"
done
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
ms() { date +%s%N; }
# The policy read alone, to separate it from key generation and signing.
for i in $(seq "$runs"); do
	s=$(ms); $labctl run --user alice -- "$ae" policy >/dev/null; e=$(ms)
	echo $(( (e - s) / 1000000 ))
done | median | xargs printf 'autoenroll policy alone (part of every request): median %s ms\n'
for backend in softhsm2 file; do
	for t in LabUser:RSA-2048 LabRSA4096:RSA-4096 LabECDSA:P-256; do
		name=${t%%:*} label=${t#*:}
		for i in $(seq "$runs"); do
			s=$(ms)
			$labctl run --user alice -- "$ae" request -c "$tmp/ae-$backend.conf" --template "$name" \
				--out "$tmp/req.pem" >/dev/null
			e=$(ms)
			echo $(( (e - s) / 1000000 ))
		done | median | xargs printf "autoenroll request %-8s on %-8s: median %s ms over $runs runs\n" "$label" "$backend"
	done
done
