#!/bin/bash
# scep.sh - median wall time and peak RSS of one SCEP enrollment (RSA-2048,
# a fresh key and a fresh NDES challenge each run) against the lab NDES
# (labctl scep up, template WebServer) by micromdm's scepclient (HTTPS) and
# by certmonger (its daemon on a private bus and state directories, which
# builds the messages; scep-submit carries them, over HTTPS, in a mount
# namespace whose /etc/ssl/certs holds the lab root: see
# tests/lab/README.md), in the same run.  The challenge is fetched
# from mscep_admin before each run, outside the measure.  autoenroll
# (enroll --scep --machine, the machine account's policy from AD included,
# key in a file; AUTOENROLL=path, default build/autoenroll) next to them.
# N runs each (default 9).  Run as root.  Prints figures.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
labctl=$top/tests/lab/labctl
runs=${1:-9}
autoenroll=${AUTOENROLL:-$top/build/autoenroll}
$labctl up >/dev/null
$labctl scep up >/dev/null
$labctl scep-template WebServer >/dev/null
. <($labctl env)
tmp=$(mktemp -d /tmp/ae-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
root=$AE_LAB_DIR/pki/root.pem
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
challenge() {
	$labctl run --admin -- curl -s --max-time 10 --negotiate -u : --cacert "$root" "$AE_LAB_SCEP_ADMIN_URL" |
		sed -n 's/.*challenge password is: <B> \([0-9A-F]*\) <\/B>.*/\1/p'
}
report() { # LABEL FILE
	printf '%-46s median %s s wall, median peak RSS %s KiB (%s runs)\n' "$1" \
		"$(cut -d' ' -f1 "$2" | median)" "$(cut -d' ' -f2 "$2" | median)" "$(wc -l <"$2")"
}

: >"$tmp/sc"
for i in $(seq "$runs"); do
	d=$tmp/sc.$i
	mkdir -p "$d"
	pw=$(challenge)
	(cd "$d" && $labctl run -- env SSL_CERT_FILE="$root" /usr/bin/time -f '%e %M' -a -o "$tmp/sc" \
		scepclient -server-url "$AE_LAB_SCEP_URL" -private-key k.pem -certificate c.pem \
		-cn "bench$i.corp.test" -keySize 2048 -challenge "$pw" >"$d/out" 2>&1) ||
		{ echo "scepclient failed: $(tail -2 "$d/out")"; exit 1; }
	[ -s "$d/c.pem" ] || { echo "scepclient: no certificate: $(tail -2 "$d/out")"; exit 1; }
done
report "micromdm scepclient (HTTPS, DES, SHA-1)" "$tmp/sc"

: >"$tmp/cm"
for i in $(seq "$runs"); do
	d=$tmp/cm.$i
	mkdir -p "$d/req" "$d/cas" "$d/local" "$d/certs"
	cp "$root" "$d/certs/ca-certificates.crt"
	pw=$(challenge)
	cat >"$d/run.sh" <<RUN
mount --bind "$d/certs" /etc/ssl/certs || exit 1
certmonger -s -n >"$d/cm.log" 2>&1 &
for i in \$(seq 50); do getcert list-cas -s >/dev/null 2>&1 && break; sleep 0.05; done
getcert add-scep-ca -s -c LabNDES -u $AE_LAB_SCEP_URL -R "$root" >/dev/null
getcert request -s -c LabNDES -f "$d/cert.pem" -k "$d/key.pem" -g 2048 -N CN=cmbench$i.corp.test -L $pw -w >/dev/null
kill %1 2>/dev/null; true
RUN
	$labctl run -- env HOME="$d" CERTMONGER_REQUESTS_DIR="$d/req" CERTMONGER_CAS_DIR="$d/cas" \
		CERTMONGER_LOCAL_CA_DIR="$d/local" CERTMONGER_TMPDIR="$d" CERTMONGER_SYSTEM_LOCK_FILE="$d/lock" \
		/usr/bin/time -f '%e %M' -a -o "$tmp/cm" unshare -m dbus-run-session -- sh "$d/run.sh" >"$d/out" 2>&1 ||
		{ echo "certmonger failed: $(tail -2 "$d/out")"; exit 1; }
	[ -s "$d/cert.pem" ] || { echo "certmonger: no certificate: $(grep -i error "$d/cm.log" | tail -2)"; exit 1; }
done
report "certmonger + scep-submit (HTTPS, AES, SHA-256)" "$tmp/cm"
echo "(certmonger: the whole session, its daemon and private D-Bus included)"

: >"$tmp/ae"
for i in $(seq "$runs"); do
	d=$tmp/ae.$i
	mkdir -p "$d"
	challenge >"$d/pw"
	printf '[global]\npolicy_refresh = 0\n[machine]\nkeytab = %s\nstate_dir = %s/state\n' \
		"$AE_LAB_DIR/ws1.keytab" "$d" >"$d/c.conf"
	$labctl run --machine -- /usr/bin/time -f '%e %M' -a -o "$tmp/ae" "$autoenroll" enroll --machine -c "$d/c.conf" \
		--scep "$AE_LAB_SCEP_URL" --subject "CN=aebench$i.corp.test" --challenge-file "$d/pw" >"$d/out" 2>&1 ||
		{ echo "autoenroll failed: $(tail -2 "$d/out")"; exit 1; }
	grep -q '^Issued' "$d/out" || { echo "autoenroll: no certificate: $(tail -2 "$d/out")"; exit 1; }
done
report "autoenroll enroll --scep (HTTPS, AES, SHA-256)" "$tmp/ae"
echo "(autoenroll: the machine account's policy from AD, 5 LDAP round trips, included)"
