#!/bin/bash
# lab-scep-server.sh - the lab NDES (tests/lab/ca/ndes.py, labctl scep up)
# checked with SCEP clients nobody here wrote: micromdm's scepclient
# (Debian's scep) and certmonger's scep-submit.  NDES's paths, GetCACaps,
# GetCACert with separate RA signing and encryption certificates, the
# mscep_admin page behind Negotiate (401 without a ticket, 403 without
# Enroll on the template, a challenge for the NDES admin), enrollment with
# a single-use challenge, the used and the expired challenge refused,
# renewal signed with the current certificate, a pending request.
. "$(dirname "$0")/lib.sh"
lab_require --no-binary
command -v scepclient >/dev/null 2>&1 || skip_all "scepclient is not installed (Debian package scep)"
[ -x /usr/lib/certmonger/scep-submit ] || skip_all "certmonger is not installed"
. <("$LABCTL" env)
cleanup_all() {
	cleanup_all_levers
	rm -rf "$TEST_TMP"
}
trap cleanup_all EXIT
cleanup_all_levers() { "$LABCTL" scep-template WebServer && "$LABCTL" scep-challenge-validity 3600; } >/dev/null 2>&1
"$LABCTL" scep up >"$TEST_TMP/scep.log" 2>&1
ok $? "labctl scep up: the lab NDES runs on ndes.corp.test" || diag "$(cat "$TEST_TMP/scep.log")"
cleanup_all_levers
URL=$AE_LAB_SCEP_URL
ROOT=$AE_LAB_DIR/pki/root.pem
TXLOG=$AE_LAB_DIR/ndes/transactions.log
inlab() { "$LABCTL" run "$@"; }
last() { tail -1 "$TXLOG" | jq -r "$1"; }

caps=$(inlab -- curl -sS --max-time 10 --cacert "$ROOT" "$URL?operation=GetCACaps")
[[ $caps == *POSTPKIOperation* && $caps == *Renewal* && $caps == *SHA-256* && $caps == *AES* ]]
ok $? "GetCACaps over HTTPS (verified against the lab root)" || diag "$caps"

inlab -- curl -sS --max-time 10 --cacert "$ROOT" -D "$TEST_TMP/h" -o "$TEST_TMP/ca.p7" "$URL?operation=GetCACert&message=CA"
chain=$(openssl pkcs7 -inform der -in "$TEST_TMP/ca.p7" -print_certs 2>&1)
kus=$(openssl pkcs7 -inform der -in "$TEST_TMP/ca.p7" -print_certs -text 2>/dev/null |
	grep -A1 "X509v3 Key Usage" | grep -v "Key Usage\|--" | tr -d ' ' | sort | tr '\n' ' ')
[ "$(grep -c '^subject=' <<<"$chain")" = 4 ] && grep -qi 'x-x509-ca-ra-cert' "$TEST_TMP/h" &&
	[[ $kus == *"DigitalSignature "* && $kus == *"KeyEncipherment "* ]]
ok $? "GetCACert: application/x-x509-ca-ra-cert, RA signing (digitalSignature) and encryption (keyEncipherment) certificates, CORP-CA1, the root" ||
	diag "$chain" "$kus"

code=$(inlab -- curl -s --max-time 10 -o /dev/null -w '%{http_code}' --cacert "$ROOT" "$AE_LAB_SCEP_ADMIN_URL")
ok "$([ "$code" = 401 ]; echo $?)" "mscep_admin without credentials: 401" || diag "$code"
page=$(inlab --user alice -- curl -s --max-time 10 -w '%{http_code}' --negotiate -u : --cacert "$ROOT" "$AE_LAB_SCEP_ADMIN_URL")
[[ $page == *"do not have sufficient permission"*403 ]]
ok $? "mscep_admin as alice (no Enroll on the NDES template): 403, NDES's text" || diag "$page"
challenge() {
	inlab --admin -- curl -s --max-time 10 --negotiate -u : --cacert "$ROOT" "$AE_LAB_SCEP_ADMIN_URL" |
		sed -n 's/.*challenge password is: <B> \([0-9A-F]*\) <\/B>.*/\1/p'
}
pw=$(challenge)
ok "$([ ${#pw} = 16 ]; echo $?)" "mscep_admin as Administrator (Kerberos, Negotiate): a challenge password" || diag "$pw"

# micromdm's scepclient: enrollment, then the same challenge again, then renewal
scepclient_run() { # DIR ARGS...
	local d=$1
	shift
	mkdir -p "$d"
	(cd "$d" && inlab -- env SSL_CERT_FILE="$ROOT" timeout 20 scepclient -server-url "$URL" \
		-private-key k.pem -certificate c.pem "$@" >out.txt 2>&1)
}
scepclient_run "$TEST_TMP/sc1" -cn dev1.corp.test -challenge "$pw"
issuer=$(openssl x509 -in "$TEST_TMP/sc1/c.pem" -noout -issuer 2>&1)
[[ $issuer == *CORP-CA1* ]] && [ "$(last .status)" = SUCCESS ] && [ "$(last .template)" = WebServer ]
ok $? "scepclient enrolls with the challenge: issued by CORP-CA1 from the NDES template WebServer" ||
	diag "$issuer" "$(tail -3 "$TEST_TMP/sc1/out.txt")" "$(tail -1 "$TXLOG")"

scepclient_run "$TEST_TMP/sc2" -cn dev2.corp.test -challenge "$pw"
[ ! -e "$TEST_TMP/sc2/c.pem" ] && grep -q "badRequest" "$TEST_TMP/sc2/out.txt" && [ "$(last .challenge)" = used ]
ok $? "the same challenge again: FAILURE badRequest, NDES says it was used already" ||
	diag "$(tail -3 "$TEST_TMP/sc2/out.txt")" "$(tail -1 "$TXLOG")"

old=$(openssl x509 -in "$TEST_TMP/sc1/c.pem" -noout -serial | cut -d= -f2)
rm -f "$TEST_TMP/sc1/self.pem" "$TEST_TMP/sc1/csr.pem"
scepclient_run "$TEST_TMP/sc1" -cn dev1.corp.test
new=$(openssl x509 -in "$TEST_TMP/sc1/c.pem" -noout -serial | cut -d= -f2)
[ -n "$new" ] && [ "$new" != "$old" ] && [ "$(last .message_type)" = 17 ] && [ "$(last .renewal)" = true ] &&
	[ "$(last .renewed_serial)" = "$(tr 'A-F' 'a-f' <<<"$old" | sed 's/^0*//')" ]
ok $? "scepclient renews without a challenge: RenewalReq signed with the current certificate, a new one" ||
	diag "$old -> $new" "$(tail -3 "$TEST_TMP/sc1/out.txt")" "$(tail -1 "$TXLOG")"

"$LABCTL" scep-challenge-validity 0 >/dev/null
pw=$(challenge)
sleep 1
scepclient_run "$TEST_TMP/sc3" -cn dev3.corp.test -challenge "$pw"
[ ! -e "$TEST_TMP/sc3/c.pem" ] && [ "$(last .challenge)" = expired ] && [ "$(last .failinfo)" = 2 ]
ok $? "an expired challenge: FAILURE badRequest, NDES says it expired" || diag "$(tail -1 "$TXLOG")"
"$LABCTL" scep-challenge-validity 3600 >/dev/null

# A pending request: the CA holds it until the admin approves; a client
# asking after it then gets the certificate (NDES answers CertPoll from the
# CA's request).
"$LABCTL" scep-template LabScepPending >/dev/null
pw=$(challenge)
mkdir -p "$TEST_TMP/sc4"
(cd "$TEST_TMP/sc4" && inlab -- env SSL_CERT_FILE="$ROOT" timeout 20 scepclient -server-url "$URL" \
	-private-key k.pem -certificate c.pem -cn dev4.corp.test -challenge "$pw" >out.txt 2>&1) &
for _ in $(seq 50); do grep -q PENDING "$TEST_TMP/sc4/out.txt" 2>/dev/null && break; sleep 0.1; done
rid=$(last .request_id)
[ "$(last .status)" = PENDING ] && [ "$(last .template)" = LabScepPending ]
ok $? "PEND_ALL_REQUESTS template: PENDING (CA request $rid)" || diag "$(tail -1 "$TXLOG")"
kill %1 2>/dev/null
wait 2>/dev/null
"$LABCTL" approve "$rid" >/dev/null
"$LABCTL" scep-template WebServer >/dev/null

# certmonger (its daemon builds the SCEP messages, scep-submit carries
# them) on its own bus and state directories: nothing of the host's
# /var/lib/certmonger is touched.  Over HTTPS, verified against the lab
# root alone.  scep-submit (certmonger 0.79.17) gives its -R file (getcert
# add-scep-ca -R) to libcurl for its first request only (GetCACaps); the
# PKIOperation that follows gets no CA file, so libcurl verifies NDES
# against its built-in default, /etc/ssl/certs/ca-certificates.crt and
# /etc/ssl/certs (curl error 60 "SSL peer certificate or SSH remote key was
# not OK" where the lab root is not there; the lab server sends the right
# name and chain).  So the session runs in a mount namespace of its own
# whose /etc/ssl/certs holds the lab root alone (tests/lab/README.md).
CM=$TEST_TMP/cm
mkdir -p "$CM/req" "$CM/cas" "$CM/local" "$CM/certs"
cp "$ROOT" "$CM/certs/ca-certificates.crt"
pw=$(challenge)
cat >"$CM/run.sh" <<EOF
mount --bind "$CM/certs" /etc/ssl/certs || exit 1
certmonger -s -n >"$CM/cm.log" 2>&1 &
for i in \$(seq 50); do getcert list-cas -s >/dev/null 2>&1 && break; sleep 0.1; done
getcert add-scep-ca -s -c LabNDES -u $URL -R "$ROOT"
getcert request -s -c LabNDES -f "$CM/cert.pem" -k "$CM/key.pem" -N CN=dev5.corp.test -L $pw -w
getcert list -s
kill %1 2>/dev/null; true
EOF
inlab -- env HOME="$CM" CERTMONGER_REQUESTS_DIR="$CM/req" CERTMONGER_CAS_DIR="$CM/cas" \
	CERTMONGER_LOCAL_CA_DIR="$CM/local" CERTMONGER_TMPDIR="$CM" CERTMONGER_SYSTEM_LOCK_FILE="$CM/lock" \
	timeout 60 unshare -m dbus-run-session -- sh "$CM/run.sh" >"$CM/out.txt" 2>&1
subj=$(openssl x509 -in "$CM/cert.pem" -noout -subject -issuer 2>&1)
[[ $subj == *dev5.corp.test*CORP-CA1* ]] && grep -q "status: MONITORING" "$CM/out.txt" &&
	[ "$(last .scheme)" = https ] && [ "$(last .cipher)" = AES ] && [ "$(last .digest)" = SHA-256 ]
ok $? "certmonger (scep-submit) enrolls over HTTPS verified against the lab root: AES and SHA-256, as the capabilities offer" ||
	diag "$subj" "$(grep -i 'status\|error' "$CM/out.txt")" "$(tail -1 "$TXLOG")"

done_testing
