#!/bin/bash
# lab-crl.sh - revocation through the CRL locations AD CS writes: a
# certificate whose only CDP is AD CS's ldap:/// URL (labctl cdp ldap),
# revoked with labctl revoke (which publishes into the CA's CDP object in
# AD as CA1$), is replaced at the next pulse, as one listed over http is;
# the same with a delta CRL (labctl crl-delta on: the revocation is in
# deltaRevocationList only); and a CRL past its nextUpdate leaves the
# status unknown: the certificate is kept, and the log says why.
. "$(dirname "$0")/lib.sh"
lab_require
. <("$LABCTL" env)
CALOG=$AE_LAB_DIR/ca/requests.log
CDP_DN="CN=CORP-CA1,CN=CA1,CN=CDP,CN=Public Key Services,CN=Services,$AE_LAB_CONFIG_NC"
DAY=86400

cleanup_all() { "$LABCTL" cdp http >/dev/null 2>&1; "$LABCTL" crl-delta off >/dev/null 2>&1; rm -rf "$TEST_TMP"; }
trap cleanup_all EXIT
"$LABCTL" cdp http >/dev/null && "$LABCTL" crl-delta off >/dev/null

conf() { # NAME
	cat >"$TEST_TMP/$1.conf" <<CONF
[global]
rpc_timeout = 10
crl_timeout = 5
policy_refresh = 0
[user]
state_dir = $TEST_TMP/$1/user
[machine]
keytab = $AE_LAB_DIR/ws1.keytab
state_dir = $TEST_TMP/$1/machine
CONF
}
# pulse user|machine NAME [OFFSET]: the helper itself, verbose (its log
# on stderr); JSON result in $TEST_TMP/r.json
pulse() {
	local who=(--user alice) helper=autoenroll-user
	[ "$1" = machine ] && who=(--machine) && helper=autoenroll-machine
	"$LABCTL" run "${who[@]}" -- env AUTOENROLL_LIBEXECDIR="$AE_BIN" AE_TEST_NOW_OFFSET="${3:-0}" \
		"$AE_BIN/$helper" -v --json -c "$TEST_TMP/$2.conf" >"$TEST_TMP/r.json" 2>"$TEST_TMP/r.err"
}
ev() { jq -r --arg e "$1" --arg t "${2:-}" '[.events[] | select(.event==$e and ($t=="" or .template==$t))] | length' "$TEST_TMP/r.json"; }
records() { "$AUTOENROLL" status --"$2" --json -c "$TEST_TMP/$1.conf" 2>/dev/null; }
rec_id() { records "$1" "$2" | jq -r --arg t "$3" '.records[] | select(.template==$t and .state=="issued") | .id' | head -1; }
state_of() { records "$1" "$2" | jq -r --arg i "$3" '.records[] | select(.id==$i) | .state'; }
cert_of() { echo "$TEST_TMP/$1/$2/certs/$3.pem"; }
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
mark() { wc -l <"$CALOG"; }
ca_count() { # SINCE TEMPLATE request_type
	tail -n +$(($1 + 1)) "$CALOG" | jq -s --arg t "$2" --arg k "$3" '[.[] | select(.template==$t and .request_type==$k)] | length'
}
show() { diag "$(jq -c '[.events[] | {event, template, message}]' "$TEST_TMP/r.json" 2>/dev/null | head -c 2500)" "$(grep -i 'revo\|crl' "$TEST_TMP/r.err" | head -c 1500)"; }
# ds_crl ATTR: the CRL in ATTR of the CA's CDP object, as text
ds_crl() {
	"$LABCTL" run --admin -- ldapsearch -Q -LLL -o ldif-wrap=no -Y GSSAPI -H ldap://dc1.corp.test \
		-s base -b "$CDP_DN" "$1" 2>/dev/null | sed -n "s/^$1:: //p" | base64 -d |
		openssl crl -inform DER -noout -text 2>/dev/null
}
listed() { grep -qi "Serial Number: *0*$2\$" <<<"$1"; } # TEXT SERIAL
# revoke_current NAME user|machine TEMPLATE: revokes the current
# certificate of TEMPLATE (keyCompromise); sets cur (its record) and
# serial, and m0 (the CA log's mark) for what the next pulse asks
revoke_current() {
	cur=$(rec_id "$1" "$2" "$3")
	serial=$(serial_of "$(cert_of "$1" "$2" "$cur")")
	"$LABCTL" revoke "$serial" 1 >"$TEST_TMP/revoke.out" 2>&1
	m0=$(mark)
}
# replaced NAME user|machine TEMPLATE PATTERN: the pulse asked anew, the
# revoked certificate is archived, the event's message matches PATTERN
replaced() {
	[ "$(ca_count "$m0" "$3" pkcs10)" = 1 ] && [ "$(state_of "$1" "$2" "$cur")" = archived ] &&
		jq -e --arg t "$3" --arg p "$4" '.events[] | select(.event=="enrolled" and .template==$t) | .message | test($p)' \
			"$TEST_TMP/r.json" >/dev/null
}

# ===== ldap:/// only: a machine certificate =====
"$LABCTL" cdp ldap >/dev/null
conf m
pulse machine m
m=$(rec_id m machine LabMachine)
[ -n "$m" ]; ok $? "the machine enrolls for LabMachine" || show
cdps=$(openssl x509 -in "$(cert_of m machine "$m")" -noout -ext crlDistributionPoints 2>/dev/null | grep URI)
[ "$(grep -c URI <<<"$cdps")" = 1 ] &&
	grep -qF "URI:ldap:///CN=CORP-CA1,CN=CA1,CN=CDP,CN=Public%20Key%20Services,CN=Services,CN=Configuration,DC=corp,DC=test?certificateRevocationList?base?objectClass=cRLDistributionPoint" <<<"$cdps"
ok $? "its only CRL distribution point is AD CS's ldap:/// URL" || diag "$cdps"
revoke_current m machine LabMachine
listed "$(ds_crl certificateRevocationList)" "$serial"
ok $? "labctl revoke published the CRL listing it into certificateRevocationList of $CDP_DN" || cat "$TEST_TMP/revoke.out"
"$LABCTL" run -- curl -s --noproxy '*' -o "$TEST_TMP/http.crl" "http://ca1.corp.test/CertEnroll/CORP-CA1.crl"
listed "$(openssl crl -inform DER -in "$TEST_TMP/http.crl" -noout -text 2>/dev/null)" "$serial"
ok $? "... and over HTTP"
pulse machine m
replaced m machine LabMachine "revoked.*according to ldap:///CN=CORP-CA1"
ok $? "revoked by the CRL read over LDAP: a new request, the revoked certificate archived, the event says it was revoked according to the ldap:/// location" || show
jq -e '.ldap_round_trips > 0' "$TEST_TMP/r.json" >/dev/null; ok $? "the CRL came through the pulse's LDAP session"

# ===== the same for a user certificate over http, for comparison =====
"$LABCTL" cdp http >/dev/null
conf h
pulse user h
revoke_current h user LabUser
pulse user h
replaced h user LabUser "according to http://"
ok $? "the same over http://: replaced, revoked according to the http location" || show

# ===== a CRL past its nextUpdate: unknown, the certificate kept =====
revoke_current h user LabUser
pulse user h $((8 * DAY))
[ "$(ca_count "$m0" LabUser pkcs10)" = 0 ] && [ "$(state_of h user "$cur")" = issued ]
ok $? "8 days later the CRL (nextUpdate 7 days) is past its nextUpdate: not replaced" || show
grep -q "revocation status unknown, ignored: .*past its nextUpdate" "$TEST_TMP/r.err"
ok $? "... and the log says the status is unknown because of nextUpdate" || show
pulse user h
[ "$(state_of h user "$cur")" = archived ]; ok $? "with the CRL current again: replaced" || show

# ===== delta CRLs, over LDAP =====
"$LABCTL" cdp ldap >/dev/null
"$LABCTL" crl-delta on >"$TEST_TMP/delta.out" 2>&1
ok $? "labctl crl-delta on" || cat "$TEST_TMP/delta.out"
base_text=$(ds_crl certificateRevocationList)
grep -q "X509v3 Freshest CRL" <<<"$base_text" && grep -qF "deltaRevocationList" <<<"$base_text"
ok $? "the new base CRL in AD names its delta (Freshest CRL: the deltaRevocationList location)" || diag "$base_text"
conf d
pulse user d
[ -n "$(rec_id d user LabUser)" ]; ok $? "alice enrolls for LabUser (CDP in AD)" || show
revoke_current d user LabUser
! listed "$(ds_crl certificateRevocationList)" "$serial" && listed "$(ds_crl deltaRevocationList)" "$serial"
ok $? "revoked after the base: in deltaRevocationList only, not in the base CRL"
grep -q "Delta CRL Indicator" <<<"$(ds_crl deltaRevocationList)"; ok $? "... which is a delta CRL"
pulse user d
replaced d user LabUser "according to the delta CRL at ldap:///"
ok $? "revoked in the delta CRL only: replaced at the next pulse, and the event says so" || show
# The delta is short-lived (1 day): two days on, the base is current
# and the delta is not: unknown, nothing replaced.
revoke_current d user LabUser
pulse user d $((2 * DAY))
[ "$(ca_count "$m0" LabUser pkcs10)" = 0 ] && [ "$(state_of d user "$cur")" = issued ] &&
	grep -q "revocation status unknown, ignored: .*delta CRL.*past its nextUpdate" "$TEST_TMP/r.err"
ok $? "a delta CRL past its nextUpdate: unknown, kept, and the log says why" || show

done_testing
