#!/bin/bash
# lab-requests.sh - requests and answers as AD CS wants them (issue 11),
# against the lab CA that applies the server-side rules of MS-WCCE
# 3.2.2.6 with AD CS's HRESULTs: autoenroll's requests pass (S/MIME
# capabilities for the default User template and its duplicates, CMC
# renewals with two signers decoded independently, schema 1 renewals,
# issuance policies, critical application policies, the cdc attribute),
# and for each refusal the lab CA gives, the client's message says what
# it is (tests/tools/ae-wrong-request builds the wrong forms with
# autoenroll's own builder and transport).  Both forms of retrieval errors
# (labctl ca-errors old|current), a validity capped below the renewal
# period (labctl ca-max-validity) not requested again at every pulse,
# key attestation skipped with its reason.
. "$(dirname "$0")/lib.sh"
lab_require
. <("$LABCTL" env)
CALOG=$AE_LAB_DIR/ca/requests.log
WRONG=$top_builddir/tests/tools/ae-wrong-request
[ -x "$WRONG" ] || skip_all "tests/tools/ae-wrong-request is not built"

cleanup() {
	"$LABCTL" ca-max-validity off >/dev/null 2>&1
	"$LABCTL" ca-errors current >/dev/null 2>&1
	"$LABCTL" ca-unreplicated none >/dev/null 2>&1
	rm -rf "$TEST_TMP"
}
trap cleanup EXIT

cat >"$TEST_TMP/ae.conf" <<CONF
[global]
rpc_timeout = 10
crl_timeout = 5
policy_refresh = 0
[user]
state_dir = $TEST_TMP/alice
CONF
ae_user() { as_user alice "$AUTOENROLL" "$@" -c "$TEST_TMP/ae.conf"; }
status_json() { ae_user status --json 2>/dev/null; }
rec_id() { status_json | jq -r --arg t "$1" '.records[] | select(.template==$t and .state=="issued") | .id' | tail -1; }
# The last request the CA received, as DER.
last_request() {
	/usr/bin/python3 - "$AE_LAB_DIR/ca/ca.db" "$1" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
row = c.execute("SELECT request FROM requests ORDER BY id DESC LIMIT 1").fetchone()
open(sys.argv[2], "wb").write(row[0])
PY
}
has_ext() { # PEM OID [critical]
	/usr/bin/python3 - "$@" <<'PY'
import sys
from cryptography import x509
c = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
e = c.extensions.get_extension_for_oid(x509.ObjectIdentifier(sys.argv[2]))
sys.exit(0 if len(sys.argv) < 4 or e.critical else 1)
PY
}
wrong() { # TEMPLATE FAULT -> $TEST_TMP/w.out
	as_user alice env AUTOENROLL_CONF="$TEST_TMP/ae.conf" "$WRONG" --template "$1" --fault "$2" \
		>"$TEST_TMP/w.out" 2>"$TEST_TMP/w.err"
}
wrong_hr() { sed -n 's/^hresult //p' "$TEST_TMP/w.out"; }
wrong_msg() { sed -n 's/^message: //p' "$TEST_TMP/w.out"; }
SMIME=1.2.840.113549.1.9.15

# ===== the default User template (schema 1, msPKI-Enrollment-Flag 0x29) =====
ae_user enroll --template User >"$TEST_TMP/out" 2>"$TEST_TMP/err"
ok $? "alice enrolls for the default User template (0x29: S/MIME required) over MS-ICPR" ||
	diag "$(cat "$TEST_TMP/err")"
last_request "$TEST_TMP/user.der"
openssl req -inform DER -in "$TEST_TMP/user.der" -noout -text 2>/dev/null | grep -q "S/MIME Capabilities"
ok $? "the request carries the S/MIME capabilities extension"
u=$(rec_id User)
[ -n "$u" ] || u=missing
has_ext "$TEST_TMP/alice/certs/$u.pem" $SMIME; ok $? "the certificate carries the S/MIME capabilities"

# ===== LabUser, duplicated from User (0x29) =====
ae_user enroll --template LabUser >"$TEST_TMP/out" 2>"$TEST_TMP/err"
ok $? "alice enrolls for LabUser (duplicated from User, msPKI-Enrollment-Flag 0x29)" ||
	diag "$(cat "$TEST_TMP/err")"
lu=$(rec_id LabUser)
[ -n "$lu" ] || lu=missing
has_ext "$TEST_TMP/alice/certs/$lu.pem" $SMIME; ok $? "its certificate carries the S/MIME capabilities"
last_request "$TEST_TMP/labuser.der"
/usr/bin/python3 - "$TEST_TMP/labuser.der" <<'PY'
# The Microsoft attributes as MS-WCCE 2.2.2.7 describes them.
import sys
from pyasn1.codec.der import decoder
from pyasn1_modules import rfc2986
req, _ = decoder.decode(open(sys.argv[1], "rb").read(), asn1Spec=rfc2986.CertificationRequest())
attrs = {str(a["type"]): bytes(a["values"][0]) for a in req["certificationRequestInfo"]["attributes"]}
ci, _ = decoder.decode(attrs["1.3.6.1.4.1.311.21.20"])
assert int(ci[0]) not in range(1, 10) and int(ci[0]) != 1000, "client id %d is reserved" % int(ci[0])
osv, _ = decoder.decode(attrs["1.3.6.1.4.1.311.13.2.3"])
assert str(osv).count(".") == 3, osv
csp, _ = decoder.decode(attrs["1.3.6.1.4.1.311.13.2.2"])
assert int(csp[0]) == 1, "RSA key for a CSP template: keySpec 1"
print("client id %d, OS version %s, keySpec %d" % (int(ci[0]), osv, int(csp[0])))
PY
ok $? "client id outside 1-9 and 1000, OS version, keySpec 1 for an RSA CAPI key"
# cdc: a just-joined account the CA's own DC does not have yet is read from
# the DC the client names (MS-WCCE 3.2.2.1.3); without it, E_ACCESSDENIED.
"$LABCTL" ca-unreplicated alice >/dev/null
ae_user enroll --template LabUser >/dev/null 2>"$TEST_TMP/err"
ok $? "with alice not yet on the CA's DC, her request is issued" || diag "$(cat "$TEST_TMP/err")"
tail -1 "$CALOG" | jq -e '.account_dc == "dc1.corp.test" and .disposition == 3' >/dev/null
ok $? "... because it names the DC the policy was read from (cdc), where the CA read her account" ||
	diag "$(tail -1 "$CALOG")"
"$LABCTL" ca-unreplicated none >/dev/null
ldapsearch_alice() {
	as_user alice ldapsearch -Q -LLL -o ldif-wrap=no -Y GSSAPI -H "ldap://$AE_LAB_DC" -b "$AE_LAB_DOMAIN_DN" \
		'(sAMAccountName=alice)' userCertificate 2>/dev/null
}
serial=$(openssl x509 -in "$TEST_TMP/alice/certs/$lu.pem" -noout -serial | cut -d= -f2)
ldapsearch_alice | sed -n 's/^userCertificate;binary:: //p; s/^userCertificate:: //p' | while read -r b; do
	echo "$b" | base64 -d | openssl x509 -inform DER -noout -serial 2>/dev/null
done | grep -qi "serial=$serial"
ok $? "PUBLISH_TO_DS: the CA published the certificate to alice's userCertificate"

# ===== renewals, decoded independently =====
ae_user enroll --renew "$lu" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
ok $? "the LabUser certificate is renewed (CMC) and issued by the strict CA" || diag "$(cat "$TEST_TMP/err")"
last_request "$TEST_TMP/renew.der"
/usr/bin/python3 "$top_srcdir/tests/integration/check-renewal.py" "$TEST_TMP/renew.der" \
	"$TEST_TMP/alice/certs/$lu.pem" 2 >"$TEST_TMP/check" 2>&1
ok $? "schema 2 renewal: CMC with the new key's signer (SKI) first and the old certificate's second (pyasn1)" ||
	diag "$(cat "$TEST_TMP/check")"
ae_user enroll --renew "$u" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
ok $? "the User certificate (schema 1) is renewed" || diag "$(cat "$TEST_TMP/err")"
last_request "$TEST_TMP/renew1.der"
/usr/bin/python3 "$top_srcdir/tests/integration/check-renewal.py" "$TEST_TMP/renew1.der" \
	"$TEST_TMP/alice/certs/$u.pem" 1 >"$TEST_TMP/check" 2>&1
ok $? "schema 1 renewal: CMS id-data around the PKCS#10, signed with the old key" || diag "$(cat "$TEST_TMP/check")"

# ===== issuance policies, critical application policies =====
ae_user enroll --template LabIssuance >/dev/null 2>"$TEST_TMP/err"
ok $? "LabIssuance (ISSUANCE_POLICIES_FROM_REQUEST) is issued" || diag "$(cat "$TEST_TMP/err")"
c=$TEST_TMP/alice/certs/$(rec_id LabIssuance).pem
pols=$(/usr/bin/python3 - "$c" <<'PY'
import sys
from cryptography import x509
c = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
p = c.extensions.get_extension_for_class(x509.CertificatePolicies).value
print(" ".join(sorted(i.policy_identifier.dotted_string.rsplit(".", 1)[1] for i in p)))
PY
)
[ "$pols" = "401 402" ]; ok $? "the template's issuance policies, sent in the request, are in the certificate ($pols)"
ae_user enroll --template LabCritical >/dev/null 2>"$TEST_TMP/err"
ok $? "LabCritical is issued and installed although its application policies are critical" ||
	diag "$(cat "$TEST_TMP/err")"
has_ext "$TEST_TMP/alice/certs/$(rec_id LabCritical).pem" 1.3.6.1.4.1.311.21.10 critical
ok $? "... the extension is critical in the certificate"

# ===== each refusal, with AD CS's HRESULT and the client's words =====
wrong LabUser none
[ $? -eq 0 ]; ok $? "ae-wrong-request without a fault: issued (control)" || diag "$(cat "$TEST_TMP/w.out" "$TEST_TMP/w.err")"
wrong LabUser no-smime
[ "$(wrong_hr)" = 0x80094805 ] && wrong_msg | grep -q "CERTSRV_E_SMIME_REQUIRED" && wrong_msg | grep -q "S/MIME"
ok $? "no S/MIME capabilities: 0x80094805, and the client says so: $(wrong_msg)"
wrong LabUser small-key
[ "$(wrong_hr)" = 0x80094811 ] && wrong_msg | grep -q "shorter than template LabUser requires"
ok $? "a 1024-bit key: 0x80094811: $(wrong_msg)"
wrong LabUser ec-key
hr=$(wrong_hr)
[ -n "$hr" ] && [ "$hr" != 0x00000000 ] && wrong_msg | grep -q "$hr"
ok $? "an ECDSA key on an RSA template: refused ($hr): $(wrong_msg)"
wrong LabRA none
[ "$(wrong_hr)" = 0x80094809 ] && wrong_msg | grep -q "enrollment agent"
ok $? "no RA signature on LabRA: 0x80094809 (MS-WCCE 3.2.2.6.2.1.4.5.1): $(wrong_msg)"
wrong LabAttest none
[ "$(wrong_hr)" = 0x8009481A ] && wrong_msg | grep -q "key attestation"
ok $? "no attestation on LabAttest: 0x8009481A: $(wrong_msg)"
ae_user policy --json >"$TEST_TMP/policy.json" 2>/dev/null
jq -e '.templates[] | select(.name=="LabAttest") | .decision=="skip" and (.reason | test("attestation"))' \
	"$TEST_TMP/policy.json" >/dev/null
ok $? "autoenroll skips LabAttest with its reason: $(jq -r '.templates[] | select(.name=="LabAttest") | .reason' "$TEST_TMP/policy.json")"

# ===== a validity the CA caps below the renewal period =====
cat >"$TEST_TMP/p.conf" <<CONF
[global]
rpc_timeout = 10
crl_timeout = 5
policy_refresh = 0
[user]
state_dir = $TEST_TMP/pulse
CONF
pulse() {
	as_user alice env AUTOENROLL_LIBEXECDIR="$AE_BIN" "$AUTOENROLL" pulse --user --wait --json \
		-c "$TEST_TMP/p.conf" "$@" >"$TEST_TMP/r.json" 2>"$TEST_TMP/r.err"
}
ev() { jq -r --arg e "$1" --arg t "$2" '[.events[] | select(.event==$e and .template==$t)] | length' "$TEST_TMP/r.json"; }
evmsg() { jq -r --arg e "$1" --arg t "$2" '.events[] | select(.event==$e and .template==$t) | .message' "$TEST_TMP/r.json" | head -1; }
"$LABCTL" ca-max-validity 30 >/dev/null; ok $? "labctl ca-max-validity 30 (LabUser's renewal period is 6 weeks)"
m0=$(wc -l <"$CALOG")
pulse; rc=$?
[ $rc -eq 3 ]; ok $? "a pulse where the CA refused a template exits 3 (completed with failures)" || diag "rc=$rc"
[ "$(ev denied LabUser)" = 1 ] && evmsg denied LabUser | grep -q "0x80094814" && evmsg denied LabUser | grep -q "renewal period"
ok $? "the CA refuses LabUser with CERT_TYPE_OVERLAP, explained: $(evmsg denied LabUser)" ||
	diag "$(jq -c '[.events[] | {event, template, message}]' "$TEST_TMP/r.json" | head -c 2000)"
n1=$(tail -n +$((m0 + 1)) "$CALOG" | jq -s '[.[] | select(.template=="LabUser")] | length')
pulse
n2=$(tail -n +$((m0 + 1)) "$CALOG" | jq -s '[.[] | select(.template=="LabUser")] | length')
[ "$n1" = 1 ] && [ "$n2" = 1 ] && [ "$(ev skipped LabUser)" = 1 ] && evmsg skipped LabUser | grep -q "not requested from CORP-CA1 again"
ok $? "the next pulse does not ask again ($n1 then $n2 requests): $(evmsg skipped LabUser)"
"$LABCTL" ca-max-validity off >/dev/null
pulse --refresh
[ "$(ev enrolled LabUser)" = 1 ]
ok $? "lever off, pulse --refresh: LabUser is enrolled at once"

# ===== retrieval errors, in both of Windows' forms =====
for form in old current; do
	"$LABCTL" ca-errors $form >/dev/null
	ae_user enroll --template LabPending >"$TEST_TMP/out" 2>/dev/null
	rid=$(sed -n 's/^Pending: request \([0-9]*\) .*/\1/p' "$TEST_TMP/out")
	"$LABCTL" deny "$rid" >/dev/null
	ae_user retrieve --ca CORP-CA1 --request-id "$rid" >/dev/null 2>"$TEST_TMP/err"
	[ $? -eq 1 ] && grep -q "denied" "$TEST_TMP/err" &&
		{ [ $form = old ] || grep -q "CERTSRV_E_ADMIN_DENIED_REQUEST" "$TEST_TMP/err"; }
	ok $? "ca-errors $form: a denied request's retrieval is explained: $(cat "$TEST_TMP/err")"
	[ -z "$(status_json | jq -r --argjson r "${rid:-0}" '.records[] | select(.request_id==$r) | .id')" ]
	ok $? "ca-errors $form: its record and key are gone"
	# A request the CA does not know (its database lost it).
	ae_user enroll --template LabPending >"$TEST_TMP/out" 2>/dev/null
	rid=$(sed -n 's/^Pending: request \([0-9]*\) .*/\1/p' "$TEST_TMP/out")
	/usr/bin/python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("DELETE FROM requests WHERE id=?", (int(sys.argv[2]),)); c.commit()' \
		"$AE_LAB_DIR/ca/ca.db" "$rid"
	ae_user retrieve --ca CORP-CA1 --request-id "$rid" >/dev/null 2>"$TEST_TMP/err"
	[ $? -eq 1 ] && grep -q "CERTSRV_E_PROPERTY_EMPTY" "$TEST_TMP/err" && grep -q "no such request" "$TEST_TMP/err"
	ok $? "ca-errors $form: an unknown request id (0x80094004 as the return value) is explained: $(cat "$TEST_TMP/err")"
done
"$LABCTL" ca-errors current >/dev/null

done_testing
