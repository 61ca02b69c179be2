#!/bin/bash
# lab-ces.sh - enrollment over HTTPS: the lab's CEP/CES web services
# (labctl ces up; MS-XCEP GetPolicies, MS-WSTEP RequestSecurityToken with
# Kerberos through HTTP Negotiate), checked with a client that is not ours
# (ces-client.py: python3-requests-kerberos and the specs' sample
# messages): the policy filtered by the caller's rights and its
# lastUpdate handshake, issued, pending then approved and retrieved by its
# RequestID, denied, no authentication, and a server certificate that does
# not chain to AD's roots; key archival (LabArchive) through the CES: the
# lab CA holds the client's key, new and renewed; over MS-ICPR and with a
# token key store skipped with the reason; a mismatched archived key
# refused.  The services stop at the end (labctl ces down).
. "$(dirname "$0")/lib.sh"
lab_require
. <("$LABCTL" env)
cleanup_all() {
	"$LABCTL" ces down >/dev/null 2>&1
	rm -rf "$TEST_TMP"
}
trap cleanup_all EXIT
CLIENT="/usr/bin/python3 $top_srcdir/tests/integration/ces-client.py"
/usr/bin/python3 -c 'import requests_kerberos' 2>/dev/null ||
	{ echo "1..0 # SKIP python3-requests-kerberos is not installed"; exit 0; }

"$LABCTL" ces up >"$TEST_TMP/ces.log" 2>&1
ok $? "labctl ces up: CEP/CES on ces.corp.test" || diag "$(cat "$TEST_TMP/ces.log")"
[[ $AE_LAB_CEP_URL == https://ces.corp.test/ADPolicyProvider_CEP_Kerberos/service.svc/CEP &&
   $AE_LAB_CES_URL == https://ces.corp.test/CORP-CA1_CES_Kerberos/service.svc/CES ]]
ok $? "labctl env: AE_LAB_CEP_URL and AE_LAB_CES_URL on the Windows paths"

# --- MS-XCEP GetPolicies (sample 4.1.1.1), as alice and as bob
as_user alice $CLIENT policy >"$TEST_TMP/pa.json" 2>"$TEST_TMP/err"
jq -e '.status == 200 and (.policyID | test("^\\{[0-9A-F-]{36}\\}$")) and .nextUpdateHours == "8"
       and .templates.LabUser == "true" and .templates.LabDenied == "true" and .templates.User == "false"
       and (.templates | has("LabMachine") | not)
       and .cesUris == [env.AE_LAB_CES_URL, "https://ces.corp.test/KeyBasedRenewal_CORP-CA1_CES_Certificate/service.svc/CES"]' \
	"$TEST_TMP/pa.json" >/dev/null
ok $? "GetPolicies as alice: policy ID, nextUpdateHours, LabUser with AutoEnroll, no machine template, the CES URI and the renewal-only one" ||
	diag "$(head -c 1500 "$TEST_TMP/pa.json")" "$(tail -5 "$TEST_TMP/err")"
# MS-XCEP 3.1.4.1.3.15: the template's msPKI-Symmetric-Algorithm (LabECDSA:
# 3DES, 168) as keyArchivalAttributes, an encryption algorithm OID (group 2)
jq -e '.keyArchival.LabECDSA == "1.2.840.113549.3.7/2/168" and (.keyArchival | has("LabUser") | not)' \
	"$TEST_TMP/pa.json" >/dev/null
ok $? "GetPolicies: keyArchivalAttributes from the template's msPKI-Symmetric-Algorithm (LabECDSA 3DES 168), none for LabUser" ||
	diag "$(jq -c .keyArchival "$TEST_TMP/pa.json")"
as_user bob $CLIENT policy >"$TEST_TMP/pb.json" 2>"$TEST_TMP/err"
jq -e '.templates.LabUser == "true" and (.templates | has("LabDenied") | not)' "$TEST_TMP/pb.json" >/dev/null
ok $? "GetPolicies as bob: LabDenied (Enroll denied to CertDenied) is filtered out" ||
	diag "$(head -c 1500 "$TEST_TMP/pb.json")"
as_machine sh -c 'kinit -k -t "$AE_LAB_DIR/ws1.keytab" "WS1$" && exec "$@"' - $CLIENT policy \
	>"$TEST_TMP/pm.json" 2>"$TEST_TMP/err"
jq -e '.templates.LabMachine == "true" and (.templates | has("LabUser") | not)' "$TEST_TMP/pm.json" >/dev/null
ok $? "GetPolicies as the machine WS1\$: LabMachine with AutoEnroll, no user template" ||
	diag "$(head -c 1500 "$TEST_TMP/pm.json")" "$(tail -5 "$TEST_TMP/err")"
as_user alice $CLIENT policy "$(date -u +%Y-%m-%dT%H:%M:%S)" >"$TEST_TMP/pn.json" 2>"$TEST_TMP/err"
jq -e '.notChanged == "true" and .templates == {}' "$TEST_TMP/pn.json" >/dev/null
ok $? "GetPolicies with lastUpdate = now (sample 4.1.2.1): policiesNotChanged, no policies" ||
	diag "$(head -c 600 "$TEST_TMP/pn.json")"

# --- MS-WSTEP Issue (sample 4.1.1.1): issued, to the key of the request
as_user alice $CLIENT issue LabUser "$TEST_TMP/u.pub" >"$TEST_TMP/i.json" 2>"$TEST_TMP/err"
jq -r .certificate "$TEST_TMP/i.json" >"$TEST_TMP/u.pem" 2>/dev/null
[ "$(jq -r '.disposition + " " + (.pkcs7|tostring)' "$TEST_TMP/i.json")" = "Issued true" ] &&
	[ "$(openssl x509 -in "$TEST_TMP/u.pem" -noout -pubkey)" = "$(cat "$TEST_TMP/u.pub")" ] &&
	openssl x509 -in "$TEST_TMP/u.pem" -noout -subject | grep -q 'CN *= *alice' &&
	openssl verify -CAfile "$AE_LAB_DIR/pki/root.pem" -untrusted "$AE_LAB_DIR/pki/ca1.pem" "$TEST_TMP/u.pem" >/dev/null
ok $? "Issue LabUser as alice: issued by CORP-CA1 for alice, to the request's key, with the PKCS#7 response" ||
	diag "$(head -c 800 "$TEST_TMP/i.json")" "$(tail -5 "$TEST_TMP/err")"
rid=$(jq -r .requestId "$TEST_TMP/i.json")
jq -e --arg r "$rid" 'select(.transport == "wstep" and .request_id == ($r|tonumber)) | .template == "LabUser"' \
	"$AE_LAB_DIR/ca/requests.log" >/dev/null
ok $? "the lab CA's request log has request $rid over WSTEP (same store as MS-ICPR)"

# --- pending, approved, retrieved by RequestID (sample 4.1.3.1)
as_user alice $CLIENT issue LabPending "$TEST_TMP/p.pub" >"$TEST_TMP/p.json" 2>"$TEST_TMP/err"
prid=$(jq -r 'select(.pending == true and .disposition == "Taken Under Submission") | .requestId' "$TEST_TMP/p.json")
[ -n "$prid" ]
ok $? "Issue LabPending: pending, RequestID $prid, a token reference to come back" || diag "$(cat "$TEST_TMP/p.json")"
as_user alice $CLIENT query "$prid" >"$TEST_TMP/q1.json" 2>&1
jq -e '.pending == true' "$TEST_TMP/q1.json" >/dev/null
ok $? "QueryTokenStatus before approval: still pending" || diag "$(cat "$TEST_TMP/q1.json")"
"$LABCTL" approve "$prid" >/dev/null
as_user alice $CLIENT query "$prid" >"$TEST_TMP/q2.json" 2>&1
jq -r .certificate "$TEST_TMP/q2.json" >"$TEST_TMP/p.pem" 2>/dev/null
[ "$(openssl x509 -in "$TEST_TMP/p.pem" -noout -pubkey 2>/dev/null)" = "$(cat "$TEST_TMP/p.pub")" ]
ok $? "approved, QueryTokenStatus $prid: issued to the pending request's key" || diag "$(head -c 600 "$TEST_TMP/q2.json")"
as_user bob $CLIENT query "$prid" >"$TEST_TMP/q3.json" 2>&1
jq -e '.errorCode == "0x80070005"' "$TEST_TMP/q3.json" >/dev/null
ok $? "bob cannot retrieve alice's request: fault 0x80070005" || diag "$(cat "$TEST_TMP/q3.json")"

# --- denied
as_user alice $CLIENT issue LabPending "$TEST_TMP/d.pub" >"$TEST_TMP/d.json" 2>&1
drid=$(jq -r .requestId "$TEST_TMP/d.json")
"$LABCTL" deny "$drid" >/dev/null
as_user alice $CLIENT query "$drid" >"$TEST_TMP/q4.json" 2>&1
jq -e --arg r "$drid" '.status == 500 and .errorCode == "0x80094014" and .invalidRequest == "true" and .requestId == $r' \
	"$TEST_TMP/q4.json" >/dev/null
ok $? "denied by the CA manager: SOAP fault with CertificateEnrollmentWSDetail 0x80094014, InvalidRequest, RequestID" ||
	diag "$(cat "$TEST_TMP/q4.json")"

# --- refused by the CA's rules: a machine template for a user
as_user alice $CLIENT issue LabMachine "$TEST_TMP/m.pub" >"$TEST_TMP/m.json" 2>&1
jq -e '.status == 500 and (.errorCode | startswith("0x8009")) and (.fault | test("Denied by Policy Module"))' \
	"$TEST_TMP/m.json" >/dev/null
ok $? "LabMachine requested by alice: refused with the CA's HRESULT" || diag "$(cat "$TEST_TMP/m.json")"

# --- no authentication; a server certificate that does not chain to AD
"$LABCTL" run -- $CLIENT raw "$AE_LAB_CES_URL" >"$TEST_TMP/r.json" 2>&1
jq -e '.status == 401' "$TEST_TMP/r.json" >/dev/null
ok $? "no Authorization: 401 with WWW-Authenticate: Negotiate" || diag "$(cat "$TEST_TMP/r.json")"
as_user alice $CLIENT raw "https://ces.corp.test:8443/CORP-CA1_CES_Kerberos/service.svc/CES" >"$TEST_TMP/x.json" 2>&1
grep -q 'CERTIFICATE_VERIFY_FAILED' "$TEST_TMP/x.json"
ok $? "port 8443 (self-signed ces.corp.test): a validating client refuses it" || diag "$(tail -3 "$TEST_TMP/x.json")"

# --- our client: autoenroll enroll/retrieve --ces (policy from AD, the
# request through the CES)
cat >"$TEST_TMP/c.conf" <<CONF
[global]
policy_refresh = 0
rpc_timeout = 10
[user]
state_dir = $TEST_TMP/alice
[machine]
keytab = $AE_LAB_DIR/ws1.keytab
state_dir = $TEST_TMP/machine
CONF
share_tmp
enroll_as() { # enroll_as alice|--machine ARGS...: output in o.txt
	local who=$1; shift
	if [ "$who" = --machine ]; then
		as_machine "$AUTOENROLL" "$@" --machine -c "$TEST_TMP/c.conf" >"$TEST_TMP/o.txt" 2>&1
	else
		as_user "$who" "$AUTOENROLL" "$@" -c "$TEST_TMP/c.conf" >"$TEST_TMP/o.txt" 2>&1
	fi
}
n0=$(wc -l <"$AE_LAB_DIR/ca/requests.log")
enroll_as alice enroll --template LabUser --ces "$AE_LAB_CES_URL"
ok $? "alice: autoenroll enroll --template LabUser --ces: issued" || diag "$(cat "$TEST_TMP/o.txt")"
tail -n +"$((n0 + 1))" "$AE_LAB_DIR/ca/requests.log" | jq -e -s 'map(select(.transport == "wstep")) | length == 1 and
	.[0].caller == "alice@CORP.TEST" and .[0].template == "LabUser" and .[0].hresult == 0' >/dev/null
ok $? "the request went through the CES as alice (WSTEP in the CA's log)"
as_user alice "$AUTOENROLL" status --json -c "$TEST_TMP/c.conf" 2>/dev/null |
	jq -e '[.records[] | select(.template == "LabUser" and .state == "issued" and .ca == "CORP-CA1")] | length == 1' >/dev/null
ok $? "alice's store has the LabUser certificate from CORP-CA1"

enroll_as --machine enroll --template LabMachine --ces "$AE_LAB_CES_URL"
ok $? "the machine (keytab of WS1\$): enroll --template LabMachine --ces: issued" || diag "$(cat "$TEST_TMP/o.txt")"
tail -n 3 "$AE_LAB_DIR/ca/requests.log" | jq -e -s 'map(select(.transport == "wstep" and .template == "LabMachine")) |
	.[-1].caller == "WS1$@CORP.TEST"' >/dev/null
ok $? "the machine's request reached the CES as WS1\$"

enroll_as alice enroll --template LabPending --ces "$AE_LAB_CES_URL"
prid=$(grep -o 'request [0-9]*' "$TEST_TMP/o.txt" | head -1 | grep -o '[0-9]*')
[ -n "$prid" ] && grep -qi pending "$TEST_TMP/o.txt"
ok $? "alice: LabPending over CES is pending, request $prid" || diag "$(cat "$TEST_TMP/o.txt")"
"$LABCTL" approve "$prid" >/dev/null
enroll_as alice retrieve --ca CORP-CA1 --request-id "$prid" --ces "$AE_LAB_CES_URL"
ok $? "approved; autoenroll retrieve --ces: issued" || diag "$(cat "$TEST_TMP/o.txt")"
as_user alice "$AUTOENROLL" status --json -c "$TEST_TMP/c.conf" 2>/dev/null |
	jq -e '[.records[] | select(.template == "LabPending" and .state == "issued")] | length == 1' >/dev/null
ok $? "the retrieved LabPending certificate is in alice's store"

enroll_as alice enroll --template LabPending --ces "$AE_LAB_CES_URL"
drid=$(grep -o 'request [0-9]*' "$TEST_TMP/o.txt" | head -1 | grep -o '[0-9]*')
"$LABCTL" deny "$drid" >/dev/null
enroll_as alice retrieve --ca CORP-CA1 --request-id "$drid" --ces "$AE_LAB_CES_URL"
rc=$?
[ $rc -ne 0 ] && grep -q '0x80094014' "$TEST_TMP/o.txt" && grep -qi 'denied' "$TEST_TMP/o.txt"
ok $? "denied request $drid: retrieve --ces fails and says 0x80094014, denied" || diag "rc=$rc" "$(cat "$TEST_TMP/o.txt")"

enroll_as alice enroll --template LabUser --ces "https://ces.corp.test:8443/CORP-CA1_CES_Kerberos/service.svc/CES"
rc=$?
[ $rc -ne 0 ] && grep -q 'ces.corp.test:8443' "$TEST_TMP/o.txt" && grep -q 'TLS' "$TEST_TMP/o.txt"
ok $? "a CES whose certificate does not chain to AD's roots: refused, naming the server" || diag "$(cat "$TEST_TMP/o.txt")"
enroll_as alice enroll --template LabUser --ces "http://ces.corp.test/CORP-CA1_CES_Kerberos/service.svc/CES"
rc=$?
[ $rc -ne 0 ] && grep -q 'never plain http' "$TEST_TMP/o.txt"
ok $? "a CES URL with http://: refused" || diag "$(cat "$TEST_TMP/o.txt")"

# --- key archival (LabArchive: CT_FLAG_REQUIRE_PRIVATE_KEY_ARCHIVAL): the
# CA exchange certificate as the WSTEP key exchange token, the key
# encrypted to it in the CMC request; the lab CA keeps what it decrypted
n0=$(wc -l <"$AE_LAB_DIR/ca/requests.log")
enroll_as alice enroll --template LabArchive --ces "$AE_LAB_CES_URL"
ok $? "alice: enroll --template LabArchive --ces (key archival): issued" || diag "$(cat "$TEST_TMP/o.txt")"
tail -n +"$((n0 + 1))" "$AE_LAB_DIR/ca/requests.log" >"$TEST_TMP/arch.log"
arid=$(jq -r 'select(.transport == "wstep" and .template == "LabArchive" and .hresult == 0) | .request_id' \
	"$TEST_TMP/arch.log" | tail -1)
jq -e -s 'map(select(.wstep == "ket")) | length == 1' "$TEST_TMP/arch.log" >/dev/null && [ -n "$arid" ]
ok $? "one key exchange token request (MS-WSTEP KET), then request $arid issued over WSTEP" ||
	diag "$(cat "$TEST_TMP/arch.log")"
akey=$(as_user alice "$AUTOENROLL" status --json -c "$TEST_TMP/c.conf" 2>/dev/null |
	jq -r '.records[] | select(.template == "LabArchive" and .state == "issued") | .key')
acert=${akey%/keys/*}/certs/$(basename "${akey%.*}").pem
[ -f "$AE_LAB_DIR/ca/archived/$arid.pem" ] &&
	[ "$(openssl pkey -in "$AE_LAB_DIR/ca/archived/$arid.pem" -pubout)" = "$(openssl pkey -in "$akey" -pubout)" ] &&
	[ "$(openssl pkey -in "$akey" -pubout)" = "$(openssl x509 -in "$acert" -noout -pubkey)" ] &&
	[ "$(openssl pkey -in "$AE_LAB_DIR/ca/archived/$arid.pem" -outform DER | sha256sum)" = \
	  "$(openssl pkey -in "$akey" -outform DER | sha256sum)" ]
ok $? "the lab CA holds alice's private key for request $arid: the same key as hers and her certificate's" ||
	diag "key=$akey cert=$acert" "$(ls -l "$AE_LAB_DIR/ca/archived" 2>&1)"
aid=$(as_user alice "$AUTOENROLL" status --json -c "$TEST_TMP/c.conf" 2>/dev/null |
	jq -r '.records[] | select(.template == "LabArchive" and .state == "issued") | .id')
enroll_as alice enroll --renew "$aid" --ces "$AE_LAB_CES_URL"
rc=$?
rrid=$(tail -1 "$AE_LAB_DIR/ca/requests.log" | jq -r 'select(.request_type == "renewal" and .template == "LabArchive" and
	.hresult == 0 and .signers == 2) | .request_id')
nkey=$(as_user alice "$AUTOENROLL" status --json -c "$TEST_TMP/c.conf" 2>/dev/null |
	jq -r '.records[] | select(.template == "LabArchive" and .state == "issued") | .key')
[ $rc -eq 0 ] && [ -n "$rrid" ] && [ "$nkey" != "$akey" ] &&
	[ "$(openssl pkey -in "$AE_LAB_DIR/ca/archived/$rrid.pem" -pubout)" = "$(openssl pkey -in "$nkey" -pubout)" ]
ok $? "renewal of LabArchive over CES (signed with the old key, a new key): the new key archived too" ||
	diag "rc=$rc" "$(cat "$TEST_TMP/o.txt")" "$(tail -1 "$AE_LAB_DIR/ca/requests.log")"
# Windows' own key archival request (certreq, MicrosoftDocs sample; test-csr
# pins its layout) read by the lab CA: the archived key found as the
# SignerInfo's unauthenticated attribute, the key hash in the CMC
# attributes and equal to the SHA-1 of that ContentInfo; only the
# decryption can fail (another CA's exchange key)
(cd "$top_srcdir/tests/lab/ca" && /usr/bin/python3 -B - "$top_srcdir/tests/data/windows-cmc-key-archival.der") \
	>"$TEST_TMP/win-ka.txt" 2>&1 <<'PY'
import datetime
import sys
import tempfile
import archive
import policy
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
p = policy.parse_request(open(sys.argv[1], "rb").read(), 0)
assert p.kind == "cmc" and p.archived is not None and p.key_hash is not None
k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
n = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "not the Windows CA")])
now = datetime.datetime.utcnow()
ca = (x509.CertificateBuilder().subject_name(n).issuer_name(n).public_key(k.public_key()).serial_number(1)
      .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1)).sign(k, hashes.SHA256()))
with tempfile.TemporaryDirectory() as d:
    xkey, xcert = archive.exchange(k, ca, "x", d)
    try:
        archive.check(p.archived, p.key_hash, policy.HASHES.get(p.signers[0]["digest"]), p.csr.public_key(),
                      xkey, xcert)
    except archive.ArchivalError as ex:
        print(ex)
PY
grep -q '^no recipient is the CA exchange certificate' "$TEST_TMP/win-ka.txt"
ok $? "the lab CA reads Windows' key archival request: archived key and key hash found, the hash matches" ||
	diag "$(cat "$TEST_TMP/win-ka.txt")"
xchg=$AE_LAB_DIR/ca/xchg.pem
openssl x509 -in "$xchg" -noout -ext extendedKeyUsage 2>/dev/null | grep -q '1.3.6.1.4.1.311.21.5' &&
	openssl verify -CAfile "$AE_LAB_DIR/pki/root.pem" -untrusted "$AE_LAB_DIR/pki/ca1.pem" -purpose any "$xchg" >/dev/null &&
	[ $(( $(date -d "$(openssl x509 -in "$xchg" -noout -enddate | cut -d= -f2)" +%s) - $(date +%s) )) -le $((7 * 86400)) ]
ok $? "the CA exchange certificate: issued by CORP-CA1, CA exchange EKU, a week at most"
enroll_as alice enroll --template LabArchive
rc=$?
[ $rc -ne 0 ] && grep -q 'MS-ICPR' "$TEST_TMP/o.txt" && grep -q 'exchange certificate' "$TEST_TMP/o.txt"
ok $? "LabArchive over MS-ICPR: refused before any request, the exchange certificate is only served over DCOM or CES" ||
	diag "rc=$rc" "$(cat "$TEST_TMP/o.txt")"
as_user alice "$AUTOENROLL" policy --json -c "$TEST_TMP/c.conf" 2>/dev/null |
	jq -e '.templates[] | select(.name == "LabArchive") | .decision == "skip" and
	       (.reason | test("archival") and test("MS-ICPR") and test("CES"))' >/dev/null
ok $? "policy from AD (CA over MS-ICPR): LabArchive skipped, the reason names archival, MS-ICPR and CES"
as_user alice env AUTOENROLL_CONF="$TEST_TMP/c.conf" "$top_builddir/tests/tools/ae-wrong-request" \
	--template LabArchive --fault archive-other-key --ces "$AE_LAB_CES_URL" >"$TEST_TMP/w.out" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q 'hresult 0x8009400C' "$TEST_TMP/w.out" &&
	tail -1 "$AE_LAB_DIR/ca/requests.log" | jq -e '.detail | test("not the request.s key")' >/dev/null
ok $? "an archived key that is not the request's: refused with CERTSRV_E_BAD_REQUEST_KEY_ARCHIVAL (0x8009400C)" ||
	diag "rc=$rc" "$(cat "$TEST_TMP/w.out")" "$(tail -1 "$AE_LAB_DIR/ca/requests.log")"
if [ -e /usr/lib/softhsm/libsofthsm2.so ]; then
	softhsm_token ae-ces
	cat >"$TEST_TMP/tok.conf" <<CONF
[global]
policy_refresh = 0
rpc_timeout = 10
[user]
store = pkcs11:token=ae-ces;module-path=$MODULE?pin-source=$TEST_TMP/pin
state_dir = $TEST_TMP/alice-token
CONF
	n0=$(wc -l <"$AE_LAB_DIR/ca/requests.log")
	as_user alice "$AUTOENROLL" enroll --template LabArchive --ces "$AE_LAB_CES_URL" -c "$TEST_TMP/tok.conf" \
		>"$TEST_TMP/o.txt" 2>&1
	rc=$?
	[ $rc -ne 0 ] && grep -q 'keeps private keys on the token' "$TEST_TMP/o.txt" &&
		[ "$(tail -n +"$((n0 + 1))" "$AE_LAB_DIR/ca/requests.log" | wc -l)" = 0 ]
	ok $? "LabArchive with the keys on a PKCS#11 token: not requested, the reason says the token cannot export them" ||
		diag "rc=$rc" "$(cat "$TEST_TMP/o.txt")"
else
	ok 0 "# SKIP SoftHSM2 is not installed (tests/deps.sh)"
fi

done_testing
