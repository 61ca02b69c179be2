#!/bin/bash
# lab-scep.sh - autoenroll's SCEP client (transport/scep.c, enroll --scep)
# against the lab NDES (labctl scep up): enrollment with the challenge
# from the admin page (Kerberos) and the key on a SoftHSM2 token, renewal
# signed with the current certificate (RenewalReq), the same with a file
# key and a challenge file, PKIOperation by GET when POST is not offered,
# the used and the expired challenge explained, a pending answer, and
# event 86 with its stage and Windows code for the wrong RA certificate,
# a TLS certificate that does not chain to AD and a name that does not
# resolve; then micromdm's scepserver (labctl scepserver): enrollment and
# renewal with its static challenge and its CA as the anchor.
. "$(dirname "$0")/lib.sh"
lab_require
[ -e /usr/lib/softhsm/libsofthsm2.so ] || skip_all "SoftHSM2 is needed (tests/deps.sh)"
. <("$LABCTL" env)
levers_default() {
	"$LABCTL" scep-template WebServer && "$LABCTL" scep-challenge-validity 3600 && "$LABCTL" scep-caps default &&
		"$LABCTL" scep-ra-swap off && "$LABCTL" scep-tls trusted
} >/dev/null 2>&1
cleanup_all() {
	levers_default
	"$LABCTL" scepserver down >/dev/null 2>&1
	[ -n "${sink:-}" ] && kill "$sink" 2>/dev/null
	rm -rf "$TEST_TMP"
}
trap cleanup_all EXIT
"$LABCTL" scep up >"$TEST_TMP/scep.log" 2>&1
ok $? "labctl scep up" || { diag "$(cat "$TEST_TMP/scep.log")"; done_testing; exit 1; }
levers_default
journal_sink
URL=$AE_LAB_SCEP_URL
TXLOG=$AE_LAB_DIR/ndes/transactions.log
softhsm_token ae-scep
cat >"$TEST_TMP/c.conf" <<CONF
[global]
policy_refresh = 0
rpc_timeout = 10
[user]
store = pkcs11:token=ae-scep;module-path=$MODULE?pin-source=$TEST_TMP/pin
state_dir = $TEST_TMP/admin
[machine]
keytab = $AE_LAB_DIR/ws1.keytab
state_dir = $TEST_TMP/machine
CONF
share_tmp
# ae_admin / ae_machine ARGS...: autoenroll as Administrator (user
# context, ticket) or the machine; output in $TEST_TMP/o
ae_admin() { "$LABCTL" run --admin -- env AE_JOURNAL_SOCKET="$SOCK" SOFTHSM2_CONF="$SOFTHSM2_CONF" "$AUTOENROLL" "$@" -c "$TEST_TMP/c.conf" >"$TEST_TMP/o" 2>&1; }
ae_machine() { as_machine env AE_JOURNAL_SOCKET="$SOCK" "$AUTOENROLL" "$@" --machine -c "$TEST_TMP/c.conf" >"$TEST_TMP/o" 2>&1; }
last() { tail -1 "$TXLOG" | jq -r "$1"; }
challenge() { # a fresh challenge from the admin page into $TEST_TMP/pw
	"$LABCTL" run --admin -- curl -s --max-time 10 --negotiate -u : --cacert "$AE_LAB_DIR/pki/root.pem" \
		"$AE_LAB_SCEP_ADMIN_URL" | sed -n 's/.*challenge password is: <B> \([0-9A-F]*\) <\/B>.*/\1/p' >"$TEST_TMP/pw"
}
issued_id() { sed -n 's/.*(id \([0-9a-f]*\)).*/\1/p' "$TEST_TMP/o"; }
event86() { # the last event 86 as {stage, method, hresult, url, profile, message}
	jq -s -c 'map(select(.WINDOWS_EVENT_ID == "86")) | last | {stage: .AUTOENROLL_SCEP_STAGE, method: .AUTOENROLL_SCEP_METHOD,
		hresult: (.AUTOENROLL_HRESULT // "" | ascii_downcase), url: .AUTOENROLL_SCEP_URL, profile: .AUTOENROLL_SCEP_PROFILE,
		message: .MESSAGE}' "$EVENTS"
}

# --- Administrator: challenge from mscep_admin with Kerberos, key on the token
ae_admin enroll --scep "$URL" --subject CN=dev1.corp.test --dns dev1.corp.test --challenge-from-admin
ok $? "enroll --scep --challenge-from-admin: issued" || diag "$(cat "$TEST_TMP/o")"
id=$(issued_id)
[ "$(last .status)/$(last .message_type)/$(last .method)/$(last .cipher)/$(last .digest)/$(last .challenge)" = SUCCESS/19/POST/AES/SHA-256/ok ]
ok $? "NDES saw a PKCSReq by POST, AES and SHA-256, with a valid challenge" || diag "$(tail -1 "$TXLOG")"
cert=$TEST_TMP/admin/certs/$id.pem
openssl x509 -in "$cert" -noout -subject -ext subjectAltName 2>/dev/null | tr '\n' ' ' | grep -q "CN *= *dev1.corp.test.*DNS:dev1.corp.test"
ok $? "the certificate has the subject and DNS name asked for" || diag "$(openssl x509 -in "$cert" -noout -subject 2>&1)"
grep -q "key      pkcs11:.*token=ae-scep" "$TEST_TMP/o"; ok $? "its key is on the SoftHSM2 token" || diag "$(cat "$TEST_TMP/o")"
ae_admin enroll --renew "$id"
ok $? "enroll --renew of the SCEP certificate: issued" || diag "$(cat "$TEST_TMP/o")"
[ "$(last .status)/$(last .message_type)/$(last .renewal)" = SUCCESS/17/true ] && grep -q "renewed  $id" "$TEST_TMP/o"
ok $? "renewed with a RenewalReq signed with the current certificate (token key), the old one archived" || diag "$(tail -1 "$TXLOG")"

# --- the machine: a challenge file, keys in files; GET when POST is not offered
challenge
ae_machine enroll --scep "$URL" --subject CN=ws1.corp.test --challenge-file "$TEST_TMP/pw"
ok $? "machine: enroll --scep --challenge-file: issued" || diag "$(cat "$TEST_TMP/o")"
mid=$(issued_id)
[ -f "$TEST_TMP/machine/keys/$mid.key" ]; ok $? "its key is in a file of the machine's store"
ae_machine enroll --scep "$URL" --subject CN=ws1.corp.test --challenge-file "$TEST_TMP/pw"
[ $? -ne 0 ] && [ "$(last .challenge)" = used ] && grep -q "already used" "$TEST_TMP/o"
ok $? "the same challenge again: refused (badRequest), explained as a used challenge" || diag "$(cat "$TEST_TMP/o")"
ev=$(event86)
jq -e '.stage == "PKIOperation" and .method == "POST" and (.url | test("mscep.dll")) and (.message | test("badRequest"))' <<<"$ev" >/dev/null
ok $? "event 86 at PKIOperation with the URL, the method and the failInfo" || diag "$ev"
"$LABCTL" scep-caps AES SHA-256 Renewal >/dev/null
ae_machine enroll --renew "$mid"
[ $? -eq 0 ] && [ "$(last .status)/$(last .method)/$(last .message_type)" = SUCCESS/GET/17 ]
ok $? "renewal of the file-key certificate, by GET when POSTPKIOperation is not offered" || diag "$(cat "$TEST_TMP/o")" "$(tail -1 "$TXLOG")"
"$LABCTL" scep-caps default >/dev/null
"$LABCTL" scep-challenge-validity 1 >/dev/null
challenge
sleep 2
ae_machine enroll --scep "$URL" --subject CN=ws1.corp.test --challenge-file "$TEST_TMP/pw"
[ $? -ne 0 ] && [ "$(last .challenge)" = expired ] && grep -q "expired" "$TEST_TMP/o"
ok $? "an expired challenge: refused, explained" || diag "$(cat "$TEST_TMP/o")" "$(tail -1 "$TXLOG")"
"$LABCTL" scep-challenge-validity 3600 >/dev/null

# --- an SCEP profile ([scep NAME]): config check, the machine's pulse enrolls it, a pulse
# before renew_percent does nothing, one after renews it (RenewalReq); enroll --scep PROFILE;
# a profile whose URL does not resolve: event 86 from the pulse.  Its certificate goes to
# live/ws1 (the by-hand ones to live/SCEP), its hook and its events name the profile.
challenge
HOOKS=$TEST_TMP/hooks.d
mkdir -p "$HOOKS" && chmod 0755 "$HOOKS"
printf '#!/bin/sh\necho "$AE_HOOK_TEMPLATE/${AE_HOOK_SCEP_PROFILE:-none} $AE_HOOK_DIR" >>"%s"\n' "$TEST_TMP/hook.log" >"$HOOKS/10-log"
chmod 0755 "$HOOKS/10-log"
sed "s|^\[machine\]\$|[machine]\nhooks_dir = $HOOKS|" "$TEST_TMP/c.conf" >"$TEST_TMP/p.conf"
cat >>"$TEST_TMP/p.conf" <<CONF
[scep ws1]
url = $URL
subject = CN=ws1.corp.test
dns = ws1.corp.test, ws1
challenge_file = $TEST_TMP/pw
renew_percent = 50
CONF
"$AUTOENROLL" config check -c "$TEST_TMP/p.conf" >"$TEST_TMP/o" 2>&1
ok $? "config check accepts the [scep ws1] profile" || diag "$(cat "$TEST_TMP/o")"
pulse_m() { # [OFFSET] [CONF]: the machine's pulse; JSON in $TEST_TMP/r.json
	as_machine env AUTOENROLL_LIBEXECDIR="$AE_BIN" AE_JOURNAL_SOCKET="$SOCK" AE_TEST_NOW_OFFSET="${1:-0}" \
		"$AUTOENROLL" pulse --machine --wait --json -c "$TEST_TMP/${2:-p}.conf" >"$TEST_TMP/r.json" 2>"$TEST_TMP/r.err"
}
scep_ev() { jq -r --arg k "$1" '[.events[] | select(.template == "SCEP" and .event == $k)] | length' "$TEST_TMP/r.json"; }
pulse_m
[ "$(scep_ev enrolled)" = 1 ] && [ "$(last .status)/$(last .message_type)/$(last .challenge)" = SUCCESS/19/ok ]
ok $? "the machine's pulse enrolls the profile ws1 (PKCSReq with its challenge file)" || diag "$(cat "$TEST_TMP/r.json" "$TEST_TMP/r.err")" "$(tail -1 "$TXLOG")"
pid=$(jq -r '[.events[] | select(.template == "SCEP" and .event == "enrolled")][0].id' "$TEST_TMP/r.json")
grep -qx "scep_profile = ws1" "$TEST_TMP/machine/$pid.record" 2>/dev/null || grep -rqx "scep_profile = ws1" "$TEST_TMP/machine"
ok $? "its record names the profile" || diag "$(ls "$TEST_TMP/machine")"
openssl x509 -in "$TEST_TMP/machine/certs/$pid.pem" -noout -ext subjectAltName 2>/dev/null | grep -q "DNS:ws1.corp.test, DNS:ws1"
ok $? "with the profile's DNS names" || diag "$(openssl x509 -in "$TEST_TMP/machine/certs/$pid.pem" -noout -text 2>&1 | head -30)"
serial() { openssl x509 -in "$1" -noout -serial 2>/dev/null | cut -d= -f2; }
LIVE=$TEST_TMP/machine/live
[ -n "$(serial "$LIVE/ws1/cert.pem")" ] && [ "$(serial "$LIVE/ws1/cert.pem")" = "$(serial "$TEST_TMP/machine/certs/$pid.pem")" ] &&
	[ -n "$(serial "$LIVE/SCEP/cert.pem")" ] && [ "$(serial "$LIVE/SCEP/cert.pem")" != "$(serial "$LIVE/ws1/cert.pem")" ] &&
	grep -qx "SCEP/ws1 $LIVE/ws1" "$TEST_TMP/hook.log" && grep -qx "SCEP/none $LIVE/SCEP" "$TEST_TMP/hook.log"
ok $? "published in live/ws1, the by-hand SCEP certificate in live/SCEP; the hook got AE_HOOK_SCEP_PROFILE" || diag "$(ls -R "$LIVE" 2>&1)" "$(cat "$TEST_TMP/hook.log" 2>&1)"
jq -s -e 'map(select(.AUTOENROLL_SCEP_PROFILE == "ws1" and .AUTOENROLL_TEMPLATE == "SCEP")) |
	(map(select(.AUTOENROLL_EVENT == "enrolled")) | length == 1) and
	(map(select(.AUTOENROLL_EVENT == "published" and (.MESSAGE | test("SCEP profile ws1 certificate")))) | length == 1) and
	(map(select(.AUTOENROLL_EVENT == "hook-ran")) | length == 1)' "$EVENTS" >/dev/null &&
	jq -e '[.events[] | select(.scep_profile == "ws1" and .event == "enrolled")] | length == 1' "$TEST_TMP/r.json" >/dev/null
ok $? "its events (enrolled, published, hook-ran) carry AUTOENROLL_SCEP_PROFILE=ws1 and their text names the profile" ||
	diag "$(jq -c 'select(.AUTOENROLL_SCEP_PROFILE != null) | {e: .AUTOENROLL_EVENT, p: .AUTOENROLL_SCEP_PROFILE, m: .MESSAGE}' "$EVENTS" | tail -5)"
n=$(wc -l <"$TXLOG")
pulse_m
[ "$(scep_ev enrolled)/$(scep_ev renewed)/$(wc -l <"$TXLOG")" = "0/0/$n" ]
ok $? "the next pulse leaves it alone: not due" || diag "$(cat "$TEST_TMP/r.json")"
life=$(( $(date -d "$(openssl x509 -in "$TEST_TMP/machine/certs/$pid.pem" -noout -enddate | cut -d= -f2)" +%s) -
	$(date -d "$(openssl x509 -in "$TEST_TMP/machine/certs/$pid.pem" -noout -startdate | cut -d= -f2)" +%s) ))
pulse_m $((life * 55 / 100))
[ "$(scep_ev renewed)/$(scep_ev archived)" = 1/1 ] && [ "$(last .status)/$(last .message_type)/$(last .renewal)" = SUCCESS/17/true ] &&
	jq -e '[.events[] | select(.event == "archived" and .id == "'"$pid"'")] | length == 1' "$TEST_TMP/r.json" >/dev/null
ok $? "at 55% of its lifetime (renew_percent 50) the pulse renews it with a RenewalReq and archives the old one" || diag "$(cat "$TEST_TMP/r.json" "$TEST_TMP/r.err")" "$(tail -1 "$TXLOG")"
challenge
as_machine "$AUTOENROLL" enroll --scep ws1 --machine -c "$TEST_TMP/p.conf" >"$TEST_TMP/o" 2>&1
[ $? -eq 0 ] && grep -q "profile  ws1" "$TEST_TMP/o"
ok $? "enroll --scep ws1: the profile by hand" || diag "$(cat "$TEST_TMP/o")"
sed 's|^url = .*|url = https://nosuchhost.corp.test/certsrv/mscep/mscep.dll|; s|^\[scep ws1\]|[scep bad]|' "$TEST_TMP/p.conf" >"$TEST_TMP/pb.conf"
pulse_m 0 pb
ev=$(event86)
[ "$(jq -r '.counts.failed // empty' "$TEST_TMP/r.json")" != 0 ] &&
	jq -e '.stage == "GetCACaps" and (.hresult | test("80072ee7")) and .profile == "bad" and (.message | test("profile bad"))' <<<"$ev" >/dev/null
ok $? "a profile whose host does not resolve: the pulse's event 86 at GetCACaps with 0x80072EE7" || diag "$ev" "$(cat "$TEST_TMP/r.json")"
as_machine env AE_JOURNAL_SOCKET="$SOCK" "$AUTOENROLL" enroll --scep bad --machine -c "$TEST_TMP/pb.conf" >"$TEST_TMP/o" 2>&1
rc=$?
ev=$(event86)
[ $rc -ne 0 ] && jq -e '.profile == "bad" and .stage == "GetCACaps"' <<<"$ev" >/dev/null
ok $? "enroll --scep bad by hand: its event 86 names the profile too" || diag "$ev" "$(cat "$TEST_TMP/o")"

# --- plain HTTP (the lab NDES also listens on 80): only where allowed, always said unprotected
HURL=http://${URL#https://}
challenge
ae_machine enroll --scep "$HURL" --subject CN=ws1.corp.test --challenge-file "$TEST_TMP/pw"
[ $? -ne 0 ] && grep -q "plain HTTP .*unprotected and refused.*scep_allow_http" "$TEST_TMP/o"
ok $? "SCEP over plain HTTP without scep_allow_http: refused, explained" || diag "$(cat "$TEST_TMP/o")"
printf 'not a certificate\n' >"$TEST_TMP/anchor-bad.pem"
ae_machine enroll --scep "$HURL" --insecure-http --scep-anchor "$TEST_TMP/anchor-bad.pem" --subject CN=ws1.corp.test --challenge-file "$TEST_TMP/pw"
[ $? -ne 0 ] && grep -q "trust anchor .*anchor-bad.pem has no PEM certificate" "$TEST_TMP/o"
ok $? "--scep-anchor with no certificate in it: refused, explained" || diag "$(cat "$TEST_TMP/o")"
sed 's/^\[global\]$/[global]\nscep_allow_http = yes/' "$TEST_TMP/c.conf" >"$TEST_TMP/c-http.conf"
as_machine env AE_JOURNAL_SOCKET="$SOCK" "$AUTOENROLL" enroll --scep "$HURL" --scep-anchor "$AE_LAB_DIR/pki/root.pem" \
	--subject CN=ws1.corp.test --challenge-file "$TEST_TMP/pw" --machine -c "$TEST_TMP/c-http.conf" >"$TEST_TMP/o" 2>&1
[ $? -eq 0 ] && grep -q "^Issued: .*over plain HTTP: unprotected" "$TEST_TMP/o" && grep -q "WARNING.*unprotected\|unprotected.*scep_allow_http" "$TEST_TMP/o" &&
	[ "$(last .status)" = SUCCESS ]
ok $? "scep_allow_http = yes and an anchor: issued over plain HTTP, every message saying it is unprotected" || diag "$(cat "$TEST_TMP/o")" "$(tail -1 "$TXLOG")"
hid=$(issued_id)
ae_machine enroll --renew "$hid"
[ $? -ne 0 ] && grep -q "unprotected and refused" "$TEST_TMP/o"
ok $? "its renewal without the setting: refused" || diag "$(cat "$TEST_TMP/o")"
ae_machine enroll --renew "$hid" --insecure-http
[ $? -eq 0 ] && grep -q "^Issued: .*unprotected" "$TEST_TMP/o" && [ "$(last .message_type)" = 17 ]
ok $? "with --insecure-http: renewed over plain HTTP (RenewalReq), said unprotected" || diag "$(cat "$TEST_TMP/o")"

# --- pending
"$LABCTL" scep-template LabScepPending >/dev/null
ae_admin enroll --scep "$URL" --subject CN=dev3.corp.test --challenge-from-admin
[ $? -eq 0 ] && grep -q "^Pending" "$TEST_TMP/o" && [ "$(last .status)" = PENDING ]
ok $? "a PEND_ALL_REQUESTS template: pending, the key kept" || diag "$(cat "$TEST_TMP/o")" "$(tail -1 "$TXLOG")"
pid=$(sed -n 's/.*(record \([0-9a-f]*\)).*/\1/p' "$TEST_TMP/o")
rid=$(last .request_id)
ae_admin retrieve --record "$pid"
[ $? -eq 0 ] && grep -q "^Still pending" "$TEST_TMP/o" && [ "$(last .message_type)/$(last .status)" = 20/PENDING ]
ok $? "retrieve --record before approval: a CertPoll, still pending" || diag "$(cat "$TEST_TMP/o")" "$(tail -1 "$TXLOG")"
"$LABCTL" approve "$rid" >/dev/null
ae_admin retrieve --record "$pid"
[ $? -eq 0 ] && grep -q "^Issued" "$TEST_TMP/o" && [ "$(last .message_type)/$(last .status)" = 20/SUCCESS ] &&
	[ -f "$TEST_TMP/admin/certs/$pid.pem" ]
ok $? "approved (labctl approve $rid): retrieve --record polls and installs the certificate" || diag "$(cat "$TEST_TMP/o")" "$(tail -1 "$TXLOG")"
"$LABCTL" scep-template WebServer >/dev/null

# --- event 86: the wrong RA certificate, TLS, DNS
"$LABCTL" scep-ra-swap on >/dev/null
challenge
ae_machine enroll --scep "$URL" --subject CN=ws1.corp.test --challenge-file "$TEST_TMP/pw"
[ $? -ne 0 ] && grep -q "illegal size of payload" "$TEST_TMP/o"
ok $? "RA certificates swapped: refused before sending, explained (NDES's \"illegal size of payload\")" || diag "$(cat "$TEST_TMP/o")"
ev=$(event86)
jq -e '.stage == "GetCACert"' <<<"$ev" >/dev/null; ok $? "event 86 at GetCACert" || diag "$ev"
"$LABCTL" scep-ra-swap off >/dev/null
"$LABCTL" scep-tls untrusted >/dev/null
ae_machine enroll --scep "$URL" --subject CN=ws1.corp.test --challenge-file "$TEST_TMP/pw"
[ $? -ne 0 ] && grep -q "TLS certificate does not chain to a root published in AD" "$TEST_TMP/o"
ok $? "an untrusted TLS certificate: refused, explained" || diag "$(cat "$TEST_TMP/o")"
ev=$(event86)
jq -e '.stage == "GetCACaps" and .method == "GET" and (.hresult | test("80072f8f"))' <<<"$ev" >/dev/null
ok $? "event 86 at GetCACaps with 0x80072F8F" || diag "$ev"
"$LABCTL" scep-tls trusted >/dev/null
ae_machine enroll --scep "https://nosuchhost.corp.test/certsrv/mscep/mscep.dll" --subject CN=ws1.corp.test --challenge-file "$TEST_TMP/pw"
[ $? -ne 0 ] && grep -q "cannot resolve the host" "$TEST_TMP/o"
ok $? "a name that does not resolve: explained" || diag "$(cat "$TEST_TMP/o")"
ev=$(event86)
jq -e '.stage == "GetCACaps" and (.hresult | test("80072ee7")) and (.url | test("nosuchhost"))' <<<"$ev" >/dev/null
ok $? "event 86 at GetCACaps with 0x80072EE7" || diag "$ev"

# --- micromdm's scepserver (a server nobody here wrote): its own CA as the anchor, plain HTTP,
# its static challenge; it answers in single DES whatever it offers, and wants the challenge on renewals too
"$LABCTL" scepserver up >"$TEST_TMP/mdm.log" 2>&1
ok $? "labctl scepserver up" || diag "$(cat "$TEST_TMP/mdm.log")"
MURL=$AE_LAB_SCEPSERVER_URL
MCA=$AE_LAB_DIR/scepserver/depot/ca.pem
cp "$AE_LAB_DIR/scepserver/challenge" "$TEST_TMP/mpw"
printf 'wrong\n' >"$TEST_TMP/mpw-bad"
ae_machine enroll --scep "$MURL" --insecure-http --subject CN=mdm1.corp.test --challenge-file "$TEST_TMP/mpw"
[ $? -ne 0 ] && grep -q "CA certificate .*Lab scepserver.* does not chain" "$TEST_TMP/o" && jq -e '.stage == "GetCACert"' <<<"$(event86)" >/dev/null
ok $? "scepserver without its CA as the anchor: refused at GetCACert (no trust on first use)" || diag "$(cat "$TEST_TMP/o")" "$(event86)"
ae_machine enroll --scep "$MURL" --insecure-http --scep-anchor "$MCA" --subject CN=mdm1.corp.test --challenge-file "$TEST_TMP/mpw-bad"
[ $? -ne 0 ] && grep -q "badRequest" "$TEST_TMP/o"
ok $? "scepserver with a wrong challenge: refused (badRequest), explained" || diag "$(cat "$TEST_TMP/o")"
ae_machine enroll --scep "$MURL" --insecure-http --scep-anchor "$MCA" --subject CN=mdm1.corp.test --challenge-file "$TEST_TMP/mpw"
[ $? -eq 0 ] && grep -q "^Issued: .*unprotected" "$TEST_TMP/o" && grep -q "single DES (weak" "$TEST_TMP/o"
ok $? "scepserver: issued with its static challenge, its single-DES answer said weak" || diag "$(cat "$TEST_TMP/o")"
xid=$(issued_id)
openssl x509 -in "$TEST_TMP/machine/certs/$xid.pem" -noout -issuer -subject 2>/dev/null | tr '\n' ' ' |
	grep -q "issuer=.*Lab scepserver.*subject=CN *= *mdm1.corp.test"
ok $? "the certificate is scepserver's, for the subject asked" || diag "$(openssl x509 -in "$TEST_TMP/machine/certs/$xid.pem" -noout -issuer -subject 2>&1)"
ae_machine enroll --renew "$xid" --insecure-http --scep-anchor "$MCA"
[ $? -ne 0 ] && grep -q "badRequest" "$TEST_TMP/o"
ok $? "its renewal without a challenge: refused by scepserver (it wants one), explained" || diag "$(cat "$TEST_TMP/o")"
ae_machine enroll --renew "$xid" --insecure-http --scep-anchor "$MCA" --challenge-file "$TEST_TMP/mpw"
[ $? -eq 0 ] && grep -q "renewed  $xid" "$TEST_TMP/o" && [ -f "$TEST_TMP/machine/certs/$(issued_id).pem" ]
ok $? "renewed with --challenge-file, signed with the current certificate, the old one archived" || diag "$(cat "$TEST_TMP/o")"
cp "$TEST_TMP/c.conf" "$TEST_TMP/m.conf"
cat >>"$TEST_TMP/m.conf" <<CONF
[scep mdm]
url = $MURL
subject = CN=mdm2.corp.test
challenge_file = $TEST_TMP/mpw
anchor = $MCA
allow_http = yes
renewal_challenge = yes
renew_percent = 50
CONF
pulse_m 0 m
[ "$(scep_ev enrolled)" = 1 ]
ok $? "the machine's pulse enrolls a profile against scepserver" || diag "$(cat "$TEST_TMP/r.json" "$TEST_TMP/r.err")"
xid=$(jq -r '[.events[] | select(.template == "SCEP" and .event == "enrolled")][0].id' "$TEST_TMP/r.json")
life=$(( $(date -d "$(openssl x509 -in "$TEST_TMP/machine/certs/$xid.pem" -noout -enddate | cut -d= -f2)" +%s) -
	$(date -d "$(openssl x509 -in "$TEST_TMP/machine/certs/$xid.pem" -noout -startdate | cut -d= -f2)" +%s) ))
pulse_m $((life * 55 / 100)) m
[ "$(scep_ev renewed)/$(scep_ev archived)" = 1/1 ]
ok $? "at 55% of its lifetime the pulse renews it, with the challenge (renewal_challenge = yes)" || diag "$(cat "$TEST_TMP/r.json" "$TEST_TMP/r.err")"

# --- diagnose's SCEP checks, for each profile of the context: NDES, scepserver, a host that does not resolve
cp "$TEST_TMP/c.conf" "$TEST_TMP/d.conf"
cat >>"$TEST_TMP/d.conf" <<CONF
[scep ndes]
url = $URL
subject = CN=ws1.corp.test
[scep mdm]
url = $MURL
subject = CN=ws1.corp.test
anchor = $MCA
allow_http = yes
[scep bad]
url = https://nosuchhost.corp.test/certsrv/mscep/mscep.dll
subject = CN=ws1.corp.test
CONF
diag_scep() { # [ARGS]: the scep.* checks as "id status" lines in $TEST_TMP/dg
	as_machine "$AUTOENROLL" diagnose --machine --json -c "$TEST_TMP/d.conf" "$@" >"$TEST_TMP/dg.json" 2>"$TEST_TMP/dg.err"
	jq -r '.checks[] | select(.id | startswith("scep.")) | "\(.id) \(.status)"' "$TEST_TMP/dg.json" >"$TEST_TMP/dg"
}
dstat() { awk -v id="$1" '$1 == id {print $2}' "$TEST_TMP/dg"; }
diag_scep
[ "$(grep -c '^scep\.ndes\..* pass$' "$TEST_TMP/dg")" = 5 ] &&
	jq -e '.checks[] | select(.id == "scep.ndes.ra-certificates") | .details | (.ra1 | test("digitalSignature")) and (.ra2 | test("keyEncipherment"))' "$TEST_TMP/dg.json" >/dev/null
ok $? "diagnose: the NDES profile's DNS, TLS, GetCACaps, GetCACert and RA certificates (signing, encryption) pass" || diag "$(cat "$TEST_TMP/dg" "$TEST_TMP/dg.err")"
[ "$(dstat scep.mdm.tls)/$(dstat scep.mdm.getcacert)/$(dstat scep.mdm.ra-certificates)" = warn/pass/pass ]
ok $? "diagnose: scepserver's profile passes, its plain HTTP a warning" || diag "$(cat "$TEST_TMP/dg")"
[ "$(dstat scep.bad.dns)/$(dstat scep.bad.getcacaps)" = fail/skip ] &&
	jq -e '.checks[] | select(.id == "scep.bad.dns") | .details.code == "0x80072EE7" and (.cause | test("cannot resolve"))' "$TEST_TMP/dg.json" >/dev/null
ok $? "diagnose: the host that does not resolve fails the DNS check (0x80072EE7), the later ones skipped" || diag "$(cat "$TEST_TMP/dg")"
"$LABCTL" scep-tls untrusted >/dev/null
diag_scep
[ "$(dstat scep.ndes.dns)/$(dstat scep.ndes.tls)/$(dstat scep.ndes.getcacaps)" = pass/fail/skip ] &&
	jq -e '.checks[] | select(.id == "scep.ndes.tls") | .details.code == "0x80072F8F" and .fix != null' "$TEST_TMP/dg.json" >/dev/null
ok $? "diagnose: an untrusted TLS certificate fails the TLS check (0x80072F8F) with its fix" || diag "$(cat "$TEST_TMP/dg")"
"$LABCTL" scep-tls trusted >/dev/null
diag_scep --scep "$URL"
[ "$(wc -l <"$TEST_TMP/dg")/$(grep -c '^scep\.ndes\.corp\.test\..* pass$' "$TEST_TMP/dg")" = 5/5 ]
ok $? "diagnose --scep URL: that server alone, named by its host, passes" || diag "$(cat "$TEST_TMP/dg")"
"$LABCTL" scepserver down >/dev/null
done_testing
