#!/bin/bash
# lab-enroll.sh - autoenroll enroll and retrieve against the lab CA over
# MS-ICPR (DCE/RPC, SPNEGO/Kerberos, packet privacy): issued certificates
# have the right template, subject and SAN and their key on the configured
# token; pending → approve → retrieve; deny; refusals explained; CA down
# bounded by rpc_timeout; an unknown SPN explained.
. "$(dirname "$0")/lib.sh"
lab_require
[ -e /usr/lib/softhsm/libsofthsm2.so ] && command -v pkcs11-tool >/dev/null ||
	skip_all "SoftHSM2 and pkcs11-tool are needed (tests/deps.sh)"
. <("$LABCTL" env)
CALOG=$AE_LAB_DIR/ca/requests.log

softhsm_token ae-enroll
cat >"$TEST_TMP/ae.conf" <<CONF
[global]
rpc_timeout = 5
[user]
store = pkcs11:token=ae-enroll;module-path=$MODULE?pin-source=$TEST_TMP/pin
state_dir = $TEST_TMP/alice
[machine]
keytab = $AE_LAB_DIR/ws1.keytab
state_dir = $TEST_TMP/machine
CONF
ae_user() { local u=$1; shift; as_user "$u" "$AUTOENROLL" "$@" -c "$TEST_TMP/ae.conf"; }
status_json() { ae_user alice status --json >"$TEST_TMP/status.json" 2>/dev/null; }

# --- alice, LabUser, key on the token ---
ae_user alice enroll --template LabUser >"$TEST_TMP/out" 2>"$TEST_TMP/err"
ok $? "alice enrolls for LabUser over MS-ICPR"
[ $? -eq 0 ] || diag "$(cat "$TEST_TMP/err")"
grep -q "^Issued: LabUser certificate from CORP-CA1" "$TEST_TMP/out"; ok $? "issued message"
tail -1 "$CALOG" | jq -e '.caller=="alice@CORP.TEST" and .auth_level==6 and .auth_type==9 and .template=="LabUser" and .disposition==3' >/dev/null
ok $? "the CA saw alice, SPNEGO at packet privacy, LabUser, and issued"
status_json
id=$(jq -r '.records[] | select(.template=="LabUser" and .state=="issued") | .id' "$TEST_TMP/status.json" | head -1)
[ -n "$id" ]; ok $? "status lists the certificate in the MY store"
cert=$TEST_TMP/alice/certs/$id.pem
openssl x509 -in "$cert" -noout -subject | grep -q "CN *= *alice"; ok $? "subject from AD (alice's DN)"
openssl x509 -in "$cert" -noout -ext subjectAltName 2>/dev/null | grep -q "alice@corp.test"; ok $? "SAN from AD (UPN and mail)"
oid=$(as_user alice "$AUTOENROLL" policy --json 2>/dev/null | jq -r '.templates[] | select(.name=="LabUser") | .oid')
/usr/bin/python3 - "$cert" "$oid" <<'PY'
import sys
from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier
from pyasn1.codec.der import decoder
c = x509.load_pem_x509_certificate(open(sys.argv[1], 'rb').read())
e = c.extensions.get_extension_for_oid(ObjectIdentifier('1.3.6.1.4.1.311.21.7'))
t, _ = decoder.decode(e.value.value)
sys.exit(0 if str(t[0]) == sys.argv[2] else 1)
PY
ok $? "the certificate's template extension is LabUser's OID"
openssl verify -CAfile "$AE_LAB_DIR/pki/root.pem" -untrusted "$AE_LAB_DIR/pki/ca1.pem" "$cert" >/dev/null 2>&1
ok $? "the certificate chains to the lab root"
pkcs11-tool --module $MODULE --token-label ae-enroll --list-objects --type cert 2>/dev/null | grep -qi "ID: *$id"
ok $? "the certificate is on the token next to its key (same CKA_ID)"
pkcs11-tool --module $MODULE --token-label ae-enroll --login --pin 1111 --list-objects --type privkey 2>/dev/null |
	grep -A4 -i "ID: *$id" | grep -q "sensitive" ||
	pkcs11-tool --module $MODULE --token-label ae-enroll --login --pin 1111 --list-objects --type privkey 2>/dev/null |
	grep -B4 -i "ID: *$id" | grep -q "sensitive"
# LabUser is a duplicate of User, whose msPKI-Private-Key-Flag has
# EXPORTABLE_KEY (0x10): the key may be extractable, but never in the clear
ok $? "its key stays on the token, sensitive"

# --- ECDSA ---
ae_user alice enroll --template LabECDSA >/dev/null 2>"$TEST_TMP/err"
ok $? "alice enrolls for LabECDSA (P-256 key on the token)"
[ $? -eq 0 ] || diag "$(cat "$TEST_TMP/err")"
# LabECDSA does not allow export (no EXPORTABLE_KEY): never extractable.
pkcs11-tool --module $MODULE --token-label ae-enroll --login --pin 1111 --list-objects --type privkey 2>/dev/null |
	grep -A6 "label: *autoenroll LabECDSA" | grep -q "never extractable"
ok $? "a key whose template does not allow export is never extractable"

# --- the machine, file store ---
as_machine "$AUTOENROLL" enroll --machine --template LabMachine -c "$TEST_TMP/ae.conf" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
ok $? "the machine enrolls for LabMachine with its keytab"
[ $? -eq 0 ] || diag "$(cat "$TEST_TMP/err")"
mc=$(ls "$TEST_TMP"/machine/certs/*.pem 2>/dev/null | head -1)
[ -n "$mc" ] && openssl x509 -in "$mc" -noout -ext subjectAltName 2>/dev/null | grep -q "DNS:ws1.corp.test"
ok $? "machine certificate has DNS:ws1.corp.test from AD"
tail -1 "$CALOG" | jq -e '.caller=="WS1$@CORP.TEST"' >/dev/null; ok $? "the CA saw WS1\$"

# --- pending, approve, retrieve ---
ae_user alice enroll --template LabPending >"$TEST_TMP/out" 2>"$TEST_TMP/err"
ok $? "LabPending: enroll succeeds as pending"
rid=$(sed -n 's/^Pending: request \([0-9]*\) .*/\1/p' "$TEST_TMP/out")
[ -n "$rid" ]; ok $? "pending request id $rid reported"
status_json
[ "$(jq -r --argjson r "${rid:-0}" '.records[] | select(.request_id==$r) | .state' "$TEST_TMP/status.json")" = pending ]
ok $? "status shows it pending in the REQUEST store"
ae_user alice retrieve --ca CORP-CA1 --request-id "$rid" >"$TEST_TMP/out" 2>&1
grep -q "^Still pending" "$TEST_TMP/out"; ok $? "retrieve before approval: still pending"
"$LABCTL" approve "$rid" >/dev/null; ok $? "labctl approve $rid"
ae_user alice retrieve --ca CORP-CA1 --request-id "$rid" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
ok $? "retrieve after approval"
grep -q "^Issued: LabPending" "$TEST_TMP/out"; ok $? "the approved certificate is installed"
status_json
[ "$(jq -r --argjson r "$rid" '.records[] | select(.request_id==$r) | .state' "$TEST_TMP/status.json")" = issued ]
ok $? "the record moved to the MY store"

# --- pending, deny ---
ae_user alice enroll --template LabPending >"$TEST_TMP/out" 2>/dev/null
rid2=$(sed -n 's/^Pending: request \([0-9]*\) .*/\1/p' "$TEST_TMP/out")
"$LABCTL" deny "$rid2" >/dev/null
ae_user alice retrieve --ca CORP-CA1 --request-id "$rid2" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
[ $? -eq 1 ] && grep -q "did not issue" "$TEST_TMP/err"
ok $? "denied request: clear message"
status_json
[ -z "$(jq -r --argjson r "${rid2:-0}" '.records[] | select(.request_id==$r) | .id' "$TEST_TMP/status.json")" ]
ok $? "the denied request's record (and key) are gone"

# --- refusals explained ---
ae_user alice enroll --template LabUnpublished --ca CORP-CA1 >/dev/null 2>"$TEST_TMP/err"
[ $? -eq 1 ] && grep -q "CERTSRV_E_UNSUPPORTED_CERT_TYPE" "$TEST_TMP/err" && grep -q "LabUnpublished" "$TEST_TMP/err" &&
	grep -q "CORP-CA1" "$TEST_TMP/err"
ok $? "template not published: the CA's refusal named and explained"
diag "$(cat "$TEST_TMP/err")"
ae_user alice enroll --template LabPlus >/dev/null 2>"$TEST_TMP/err"
[ $? -eq 1 ] && grep -q "CERTSRV_E_TEMPLATE_DENIED" "$TEST_TMP/err"
ok $? "no Enroll right: CERTSRV_E_TEMPLATE_DENIED explained"
diag "$(cat "$TEST_TMP/err")"
before=$(ls "$TEST_TMP/alice/records" | wc -l)
[ "$before" -eq "$(pkcs11-tool --module $MODULE --token-label ae-enroll --login --pin 1111 --list-objects --type privkey 2>/dev/null | grep -c 'label:')" ]
ok $? "refused requests leave no key behind (keys = records = $before)"

# --- renewal: CMC signed with the old key on the token ---
status_json
old=$(jq -r '.records[] | select(.template=="LabUser" and .state=="issued") | .id' "$TEST_TMP/status.json" | head -1)
ae_user alice enroll --renew "$old" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
ok $? "renewal of the LabUser certificate"
[ $? -eq 0 ] || diag "$(cat "$TEST_TMP/err")"
tail -1 "$CALOG" | jq -e '.request_type=="renewal" and .wrapper=="cmc" and .disposition==3' >/dev/null
ok $? "the CA saw a CMC renewal signed with the old key and issued"
status_json
[ "$(jq -r --arg o "$old" '.records[] | select(.id==$o) | .state' "$TEST_TMP/status.json")" = archived ]
ok $? "the renewed certificate is archived"
[ "$(jq -r '[.records[] | select(.template=="LabUser" and .state=="issued")] | length' "$TEST_TMP/status.json")" = 1 ]
ok $? "one current LabUser certificate"

# --- the KDC does not know the CA's service principal ---
ca_base="CN=Enrollment Services,CN=Public Key Services,CN=Services,$AE_LAB_CONFIG_NC"
alias_cleanup() {
	printf 'dn: CN=CORP-ALIAS,%s\nchangetype: delete\n' "$ca_base" |
		"$LABCTL" run --admin -- ldapmodify -Q -c -Y GSSAPI -H ldap://dc1.corp.test >/dev/null 2>&1
	sed -i '/alias.corp.test/d' "/etc/netns/$AE_LAB_NETNS/hosts"
}
alias_cleanup
printf '127.0.0.11\talias.corp.test\n' >>"/etc/netns/$AE_LAB_NETNS/hosts"
printf 'dn: CN=CORP-ALIAS,%s\nobjectClass: pKIEnrollmentService\ncn: CORP-ALIAS\ndNSHostName: alias.corp.test\nflags: 10\ncertificateTemplates: LabUser\ncACertificate:: %s\n' \
	"$ca_base" "$(base64 -w0 "$AE_LAB_DIR/pki/ca1.der")" |
	"$LABCTL" run --admin -- ldapadd -Q -Y GSSAPI -H ldap://dc1.corp.test >/dev/null 2>&1
ok $? "an enrollment service on a host name without SPN (alias.corp.test)"
ae_user alice enroll --template LabUser --ca CORP-ALIAS >/dev/null 2>"$TEST_TMP/err"
[ $? -eq 1 ] && grep -q "host/alias.corp.test" "$TEST_TMP/err" && grep -q "does not know the service principal" "$TEST_TMP/err"
ok $? "the KDC refuses the SPN: the principal and the cause are named"
diag "$(cat "$TEST_TMP/err")"
alias_cleanup

# --- CA down: bounded by rpc_timeout ---
in_lab nft -f - <<'NFT'
table inet aeca {
	chain out {
		type filter hook output priority 0;
		ip daddr 127.0.0.11 tcp dport 135 drop
	}
}
NFT
sed 's/rpc_timeout = 5/rpc_timeout = 2/' "$TEST_TMP/ae.conf" >"$TEST_TMP/short.conf"
s=$(date +%s.%N)
as_user alice "$AUTOENROLL" enroll --template LabUser -c "$TEST_TMP/short.conf" >/dev/null 2>"$TEST_TMP/err"
rc=$?
e=$(date +%s.%N)
in_lab nft delete table inet aeca
[ $rc -eq 1 ] && grep -q "rpc_timeout in \[global\]" "$TEST_TMP/err"
ok $? "CA not answering: error names rpc_timeout"
diag "$(cat "$TEST_TMP/err")"
[ "$(echo "$e - $s < 10" | bc)" = 1 ]; ok $? "and fails in bounded time ($(echo "$e - $s" | bc) s)"

done_testing
