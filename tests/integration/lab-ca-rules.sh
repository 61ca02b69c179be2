#!/bin/bash
# lab-ca-rules.sh - the lab CA applies the CA-side rules of a Windows
# Enterprise CA (MS-WCCE 3.2.2.6.2.1.x, 3.2.1.4.2.1.x) with the HRESULTs AD CS
# returns: for each rule the wrong form is refused and the right form is
# issued.  Third-party client only (tests/lab/ca/icpr_client.py, impacket);
# independent of the autoenroll binary.  Every lever it changes is reset.
. "$(dirname "$0")/lib.sh"
lab_require --no-binary
. <("$LABCTL" env)
CLIENT="$top_srcdir/tests/lab/ca/icpr_client.py"
PY=/usr/bin/python3
R=$AE_LAB_FOREST_OID_ROOT
O=$R.1
CALOG=$AE_LAB_DIR/ca/requests.log
TPL_BASE="CN=Certificate Templates,CN=Public Key Services,CN=Services,$AE_LAB_CONFIG_NC"

icpr() { # icpr USER OUT ARGS...
	local who=$1 out=$2
	shift 2
	as_user "$who" $PY -B "$CLIENT" "$@" >"$out" 2>"$out.err"
}
j() { jq -r "$2" "$1"; }
last_log() { tail -n 1 "$CALOG" | jq -r "$1"; }
show() { diag "$(cat "$1" "$1.err" 2>/dev/null | cut -c1-400)"; }
hr() { printf '%d' "$1"; }
# refused OUT HRESULT DESCRIPTION: the client saw exactly this HRESULT
refused() {
	[ "$(j "$1" .hresult)" = "$(hr "$2")" ]
	ok $? "$3 -> $2" || show "$1"
}
issued() {
	[ "$(j "$1" .disposition)" = 3 ]
	ok $? "$2: issued" || show "$1"
}
ldapmod() { as_user Administrator ldapmodify -Q -Y GSSAPI -H "ldap://$AE_LAB_DC" >/dev/null 2>&1; }
tpl_set() { printf 'dn: CN=%s,%s\nchangetype: modify\nreplace: %s\n%s: %s\n' "$1" "$TPL_BASE" "$2" "$2" "$3" | ldapmod; }
alice_mail() { printf 'dn: CN=alice,OU=Staff,%s\nchangetype: modify\nreplace: mail\nmail: %s\n' "$AE_LAB_DOMAIN_DN" "$1" | ldapmod; }
restore() {
	"$LABCTL" ca-max-validity off >/dev/null 2>&1
	"$LABCTL" ca-errors current >/dev/null 2>&1
	"$LABCTL" ca-unreplicated none >/dev/null 2>&1
	tpl_set LabRA msPKI-RA-Application-Policies 1.3.6.1.4.1.311.20.2.1
	tpl_set LabRA2 msPKI-RA-Application-Policies 1.3.6.1.4.1.311.20.2.1
	alice_mail alice@corp.test
}
trap 'restore; rm -rf "$TEST_TMP"' EXIT
# certinfo PEM: facts about an issued certificate, one JSON object
certinfo() {
	$PY - "$1" <<'PY'
import datetime, json, sys
from cryptography import x509
c = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
def ext(o):
    try:
        return c.extensions.get_extension_for_oid(x509.ObjectIdentifier(o))
    except x509.ExtensionNotFound:
        return None
sm = ext("1.2.840.113549.1.9.15")
ap = ext("1.3.6.1.4.1.311.21.10")
cp = ext("2.5.29.32")
print(json.dumps({
    "smime": sm.value.value.hex() if sm else None,
    "app_critical": ap.critical if ap else None,
    "policies": [p.policy_identifier.dotted_string for p in cp.value] if cp else [],
    "days": round((c.not_valid_after - datetime.datetime.utcnow()).total_seconds() / 86400, 2),
}))
PY
}
SMIME_HEX=3026300b060960864801650304012a300b0609608648016503040102300a06082a864886f70d0307

# --- a. INCLUDE_SYMMETRIC_ALGORITHMS (3.2.2.6.2.1.4.5.6): S/MIME capabilities
icpr alice "$TEST_TMP/s0.json" --template LabUser --template-oid "$O.101" --smime no
refused "$TEST_TMP/s0.json" 0x80094805 "LabUser (msPKI-Enrollment-Flag 0x29) without S/MIME capabilities: CERTSRV_E_SMIME_REQUIRED"
[[ "$(j "$TEST_TMP/s0.json" .message)" == *"missing a required SMIME capabilities extension"* ]]
ok $? "the message is Windows' text"
icpr alice "$TEST_TMP/s1.json" --template LabUser --template-oid "$O.101" --cert-out "$TEST_TMP/user.pem" \
	--key-out "$TEST_TMP/user.key"
issued "$TEST_TMP/s1.json" "LabUser with S/MIME capabilities (client reads the flag from AD)"
[ "$(certinfo "$TEST_TMP/user.pem" | jq -r .smime)" = $SMIME_HEX ]
ok $? "the certificate carries the request's S/MIME capabilities"
icpr alice "$TEST_TMP/s2.json" --template User --template-name-ext User --cert-out "$TEST_TMP/defuser.pem"
issued "$TEST_TMP/s2.json" "the default User template (schema 1, 0x29) for alice"
[ "$(certinfo "$TEST_TMP/defuser.pem" | jq -r .smime)" = $SMIME_HEX ]
ok $? "User certificate carries the S/MIME capabilities"

# --- k. PUBLISH_TO_DS (3.2.2.1.5): userCertificate of alice
want=$(openssl x509 -in "$TEST_TMP/user.pem" -outform DER | base64 -w0)
as_user alice ldapsearch -Q -LLL -o ldif-wrap=no -Y GSSAPI -H "ldap://$AE_LAB_DC" -b "$AE_LAB_DOMAIN_DN" \
	'(sAMAccountName=alice)' userCertificate 2>/dev/null | grep -qxF "userCertificate:: $want"
ok $? "LabUser certificate published to alice's userCertificate (ldapsearch)"

# --- b. renewal forms (3.2.1.4.2.1.4.2.1/.2, client side 3.1.1.4.3.2.1/.2)
renew() { # renew OUT FORM [ARGS...]: renew user.pem (LabUser)
	local out=$1 form=$2
	shift 2
	icpr alice "$out" --template LabUser --template-oid "$O.101" --renew-cert "$TEST_TMP/user.pem" \
		--renew-key "$TEST_TMP/user.key" --renew-form "$form" "$@"
}
renew "$TEST_TMP/r1.json" cmc
issued "$TEST_TMP/r1.json" "CMC renewal, signers [new key SKI, old key]"
renew "$TEST_TMP/r2.json" cmc-nosig
issued "$TEST_TMP/r2.json" "CMC renewal, first signer No-Signature, second old key"
renew "$TEST_TMP/r3.json" cms
issued "$TEST_TMP/r3.json" "CMS+PKCS#10 renewal signed by the old key (schema 1 form)"
renew "$TEST_TMP/r4.json" cmc-old-only
refused "$TEST_TMP/r4.json" 0x80090006 "CMC renewal with only the old-key signer: NTE_BAD_SIGNATURE"
renew "$TEST_TMP/r5.json" cmc-new-only
refused "$TEST_TMP/r5.json" 0x80090006 "CMC renewal with only the new-key signer: NTE_BAD_SIGNATURE"
renew "$TEST_TMP/r6.json" cmc-swapped
refused "$TEST_TMP/r6.json" 0x80090006 "CMC renewal with the signers swapped: NTE_BAD_SIGNATURE"
renew "$TEST_TMP/r7.json" cms-new-key
refused "$TEST_TMP/r7.json" 0x80090006 "CMS renewal signed by the new key: NTE_BAD_SIGNATURE"
renew "$TEST_TMP/r8.json" no-old-cert
refused "$TEST_TMP/r8.json" 0x8009400E "renewal without the old certificate in certificates: CERTSRV_E_BAD_RENEWAL_CERT_ATTRIBUTE"

# --- g. a renewal keeps its template (3.2.2.6.2.1.2.3)
icpr alice "$TEST_TMP/g.json" --template LabSameKey --template-oid "$O.122" --renew-cert "$TEST_TMP/user.pem" \
	--renew-key "$TEST_TMP/user.key" --renew-same-key
refused "$TEST_TMP/g.json" 0x80094802 "renewal of a LabUser certificate naming LabSameKey: CERTSRV_E_TEMPLATE_CONFLICT"

# --- f. REQUIRE_SAME_KEY_RENEWAL (3.2.2.6.2.1.4.5.7)
icpr alice "$TEST_TMP/k0.json" --template LabSameKey --template-oid "$O.122" --cert-out "$TEST_TMP/same.pem" \
	--key-out "$TEST_TMP/same.key"
issued "$TEST_TMP/k0.json" "LabSameKey"
icpr alice "$TEST_TMP/k1.json" --template LabSameKey --template-oid "$O.122" --renew-cert "$TEST_TMP/same.pem" \
	--renew-key "$TEST_TMP/same.key"
refused "$TEST_TMP/k1.json" 0x80094816 "LabSameKey renewal with a new key: CERTSRV_E_RENEWAL_BAD_PUBLIC_KEY"
icpr alice "$TEST_TMP/k2.json" --template LabSameKey --template-oid "$O.122" --renew-cert "$TEST_TMP/same.pem" \
	--renew-key "$TEST_TMP/same.key" --renew-same-key
issued "$TEST_TMP/k2.json" "LabSameKey renewal with the same key"

# --- c/d. key size and algorithm (3.2.2.6.2.1.4.5.2)
icpr alice "$TEST_TMP/c1.json" --template LabUser --template-oid "$O.101" --key-size 1024
refused "$TEST_TMP/c1.json" 0x80094811 "1024-bit RSA key for LabUser (minimum 2048): CERTSRV_E_KEY_LENGTH"
icpr alice "$TEST_TMP/c2.json" --template LabUser --template-oid "$O.101" --key-type ec
refused "$TEST_TMP/c2.json" 0x80094811 "EC P-256 key for the RSA template LabUser: CERTSRV_E_KEY_LENGTH"
icpr alice "$TEST_TMP/d1.json" --template LabECDSA --template-oid "$O.113"
refused "$TEST_TMP/d1.json" 0x80090008 "RSA key for LabECDSA (schema 3, ECDSA_P256): NTE_BAD_ALGID"
icpr alice "$TEST_TMP/d2.json" --template LabECDSA --template-oid "$O.113" --key-type ec
issued "$TEST_TMP/d2.json" "EC P-256 key for LabECDSA"

# --- e. msPKI-RA-Signature (3.2.2.6.2.1.4.5.1/.4)
icpr alice "$TEST_TMP/e1.json" --template LabRA --template-oid "$O.110" --format cmc
refused "$TEST_TMP/e1.json" 0x80094809 "LabRA without an RA signature: CERTSRV_E_SIGNATURE_POLICY_REQUIRED"
ra=(--ra-cert "$TEST_TMP/user.pem" --ra-key "$TEST_TMP/user.key")
icpr alice "$TEST_TMP/e2.json" --template LabRA --template-oid "$O.110" "${ra[@]}"
refused "$TEST_TMP/e2.json" 0x8009480B "LabRA signed by a certificate without Certificate Request Agent: CERTSRV_E_SIGNATURE_REJECTED"
tpl_set LabRA msPKI-RA-Application-Policies 1.3.6.1.5.5.7.3.2
tpl_set LabRA2 msPKI-RA-Application-Policies 1.3.6.1.5.5.7.3.2
icpr alice "$TEST_TMP/e3.json" --template LabRA2 --template-oid "$O.111" "${ra[@]}"
refused "$TEST_TMP/e3.json" 0x8009480A "LabRA2 (2 signatures) with one valid RA signature: CERTSRV_E_SIGNATURE_COUNT"
icpr alice "$TEST_TMP/e4.json" --template LabRA --template-oid "$O.110" "${ra[@]}"
issued "$TEST_TMP/e4.json" "LabRA with one valid RA signature (RA policy set to client auth for the test)"
tpl_set LabRA msPKI-RA-Application-Policies 1.3.6.1.4.1.311.20.2.1
tpl_set LabRA2 msPKI-RA-Application-Policies 1.3.6.1.4.1.311.20.2.1

# --- j. ATTEST_REQUIRED (3.2.2.6.2.1.4.5.7)
icpr alice "$TEST_TMP/j.json" --template LabAttest --template-oid "$O.121"
refused "$TEST_TMP/j.json" 0x8009481A "LabAttest without key attestation: CERTSRV_E_KEY_ATTESTATION"

# --- critical application policies, issuance policies (3.2.2.6.2.1.4.4.6, 3.2.2.6.2.1.4.5.8)
icpr alice "$TEST_TMP/cr.json" --template LabCritical --template-oid "$O.119" --cert-out "$TEST_TMP/crit.pem"
issued "$TEST_TMP/cr.json" "LabCritical"
[ "$(certinfo "$TEST_TMP/crit.pem" | jq -c '[.app_critical, .policies]')" = "[true,[\"$O.400\"]]" ]
ok $? "LabCritical: application policies extension critical, issuance policy .1.400 from the template"
icpr alice "$TEST_TMP/i1.json" --template LabIssuance --template-oid "$O.120" --cert-out "$TEST_TMP/i1.pem"
issued "$TEST_TMP/i1.json" "LabIssuance, no policy requested"
[ "$(certinfo "$TEST_TMP/i1.pem" | jq -c .policies)" = "[]" ]
ok $? "ISSUANCE_POLICIES_FROM_REQUEST and no policy in the request: no certificate policies"
icpr alice "$TEST_TMP/i2.json" --template LabIssuance --template-oid "$O.120" --cert-out "$TEST_TMP/i2.pem" \
	--policy "$O.402" --policy 1.2.3.4.5
issued "$TEST_TMP/i2.json" "LabIssuance, policies .1.402 and 1.2.3.4.5 requested"
[ "$(certinfo "$TEST_TMP/i2.pem" | jq -c .policies)" = "[\"$O.402\"]" ]
ok $? "only the requested policy the template lists is in the certificate (.1.402)"
icpr alice "$TEST_TMP/i3.json" --template LabUser --template-oid "$O.101" --cert-out "$TEST_TMP/i3.pem" \
	--policy "$O.401"
[ "$(j "$TEST_TMP/i3.json" .disposition)" = 3 ] && [ "$(certinfo "$TEST_TMP/i3.pem" | jq -c .policies)" = "[]" ]
ok $? "without the flag, requested policies are ignored (LabUser has none)"

# --- h. PREVIOUS_APPROVAL_VALIDATE_REENROLLMENT (3.2.2.6.2.1.4.8)
icpr alice "$TEST_TMP/h0.json" --template LabPrevApproval --template-oid "$O.123" --key-out "$TEST_TMP/prev.key"
rid=$(j "$TEST_TMP/h0.json" .request_id)
[ "$(j "$TEST_TMP/h0.json" .disposition)" = 5 ]
ok $? "LabPrevApproval new request pends (PEND_ALL_REQUESTS)"
"$LABCTL" approve "$rid" >/dev/null
icpr alice "$TEST_TMP/h1.json" --retrieve "$rid" --cert-out "$TEST_TMP/prev.pem"
issued "$TEST_TMP/h1.json" "approved LabPrevApproval request $rid retrieved"
icpr alice "$TEST_TMP/h2.json" --template LabPrevApproval --template-oid "$O.123" --renew-cert "$TEST_TMP/prev.pem" \
	--renew-key "$TEST_TMP/prev.key"
[ "$(j "$TEST_TMP/h2.json" .disposition)" = 3 ] && [ "$(last_log .prev_approval)" = honoured ]
ok $? "renewal of the approved certificate: previous approval honoured, issued" || show "$TEST_TMP/h2.json"
alice_mail alice2@corp.test
icpr alice "$TEST_TMP/h3.json" --template LabPrevApproval --template-oid "$O.123" --renew-cert "$TEST_TMP/prev.pem" \
	--renew-key "$TEST_TMP/prev.key"
[ "$(j "$TEST_TMP/h3.json" .disposition)" = 5 ] && [[ "$(last_log .prev_approval)" == *rfc822Name* ]]
ok $? "renewal after alice's mail changed (old SAN no longer matches): pends" || show "$TEST_TMP/h3.json"
alice_mail alice@corp.test

# --- n. errors in the return value (3.2.1.4.2.1.3, footnote <86>): both forms
icpr alice "$TEST_TMP/n1.json" --retrieve 999999
[ "$(j "$TEST_TMP/n1.json" '"\(.disposition) \(.return_value)"')" = "0 $(hr 0x80094004)" ]
ok $? "retrieval of an unknown request id: disposition 0, return value 0x80094004 CERTSRV_E_PROPERTY_EMPTY"
icpr alice "$TEST_TMP/n2.json" --template LabPending --template-oid "$O.106"
rid=$(j "$TEST_TMP/n2.json" .request_id)
"$LABCTL" deny "$rid" >/dev/null
icpr alice "$TEST_TMP/n3.json" --retrieve "$rid"
[ "$(j "$TEST_TMP/n3.json" '"\(.disposition) \(.return_value)"')" = "2 $(hr 0x80094014)" ]
ok $? "ca-errors current: denied request $rid retrieved: disposition 2, return value 0x80094014"
"$LABCTL" ca-errors old >/dev/null
icpr alice "$TEST_TMP/n4.json" --retrieve "$rid"
[ "$(j "$TEST_TMP/n4.json" '"\(.disposition) \(.return_value)"')" = "2 0" ] &&
	[[ "$(j "$TEST_TMP/n4.json" .message)" == *0x80094014* ]]
ok $? "ca-errors old (Windows Server 2008 and earlier): disposition 2, return value 0"
icpr alice "$TEST_TMP/n5.json" --retrieve 999999
[ "$(j "$TEST_TMP/n5.json" '"\(.disposition) \(.return_value)"')" = "0 $(hr 0x80094004)" ]
ok $? "ca-errors old: unknown request id still 0x80094004 in the return value"
"$LABCTL" ca-errors current >/dev/null

# --- i. validity capped below the renewal period
"$LABCTL" ca-max-validity 30 >/dev/null
icpr alice "$TEST_TMP/v1.json" --template LabUser --template-oid "$O.101"
refused "$TEST_TMP/v1.json" 0x80094814 "ca-max-validity 30 and LabUser's 6-week renewal period: CERTSRV_E_CERT_TYPE_OVERLAP"
icpr alice "$TEST_TMP/v2.json" --template LabShort --template-oid "$O.117"
issued "$TEST_TMP/v2.json" "ca-max-validity 30, LabShort (1 day, renewal 2 h)"
"$LABCTL" ca-max-validity 100 >/dev/null
icpr alice "$TEST_TMP/v3.json" --template LabUser --template-oid "$O.101" --cert-out "$TEST_TMP/v3.pem"
d=$(certinfo "$TEST_TMP/v3.pem" | jq -r .days)
[ "$(j "$TEST_TMP/v3.json" .disposition)" = 3 ] && awk -v d="$d" 'BEGIN { exit !(d > 99.5 && d <= 100.01) }'
ok $? "ca-max-validity 100: LabUser issued for 100 days ($d)"
"$LABCTL" ca-max-validity off >/dev/null
icpr alice "$TEST_TMP/v4.json" --template LabUser --template-oid "$O.101" --cert-out "$TEST_TMP/v4.pem"
d=$(certinfo "$TEST_TMP/v4.pem" | jq -r .days)
awk -v d="$d" 'BEGIN { exit !(d > 364 && d <= 365.01) }'
ok $? "ca-max-validity off: the template's year again ($d days)"

# --- l. cdc (3.2.2.6.2.1.1, 3.2.2.1.3)
"$LABCTL" ca-unreplicated alice >/dev/null
icpr alice "$TEST_TMP/l1.json" --template LabUser --template-oid "$O.101"
refused "$TEST_TMP/l1.json" 0x80070005 "alice not on the CA's DC and no cdc: E_ACCESSDENIED"
icpr alice "$TEST_TMP/l2.json" --template LabUser --template-oid "$O.101" --attr cdc:dc1.corp.test
[ "$(j "$TEST_TMP/l2.json" .disposition)" = 3 ] && [ "$(last_log .account_dc)" = dc1.corp.test ]
ok $? "cdc:dc1.corp.test: the CA reads alice from that DC (requests.log account_dc)" || show "$TEST_TMP/l2.json"
icpr alice "$TEST_TMP/l3.json" --template LabUser --template-oid "$O.101" --attr cdc:ws1.corp.test
refused "$TEST_TMP/l3.json" 0x80072030 "cdc naming a host that is not a DC: refused (no nTDSDSA)"
"$LABCTL" ca-unreplicated none >/dev/null
icpr alice "$TEST_TMP/l4.json" --template LabUser --template-oid "$O.101" --attr cdc:dc1.corp.test
[ "$(j "$TEST_TMP/l4.json" .disposition)" = 3 ] && [ "$(last_log .account_dc)" = dc1.corp.test ]
ok $? "alice on the CA's DC: read there (the cdc is only a fallback)"

done_testing
