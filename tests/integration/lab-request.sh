#!/bin/bash
# lab-request.sh - autoenroll request and status in the lab, with keys on a
# real SoftHSM2 token (loaded through p11-kit) and in the file backend:
# the request verifies, carries the template extension of the template in
# AD, the key is on the token and not extractable; SIGKILL at every step
# of making a request leaves no orphan key and no duplicate record.
. "$(dirname "$0")/lib.sh"
lab_require
[ -e /usr/lib/softhsm/libsofthsm2.so ] && command -v softhsm2-util >/dev/null &&
	command -v pkcs11-tool >/dev/null || skip_all "SoftHSM2 and pkcs11-tool are needed (tests/deps.sh)"
. <("$LABCTL" env)
MODULE=/usr/lib/softhsm/libsofthsm2.so

export SOFTHSM2_CONF=$TEST_TMP/softhsm2.conf
mkdir -p "$TEST_TMP/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\n' "$TEST_TMP" >"$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label ae-itest --so-pin 4321 --pin 1111 >/dev/null
ok $? "SoftHSM2 token created"
printf '1111\n' >"$TEST_TMP/pin"
chmod 600 "$TEST_TMP/pin"

cat >"$TEST_TMP/user.conf" <<CONF
[global]
domain = corp.test
[user]
store = pkcs11:token=ae-itest;module-path=$MODULE?pin-source=$TEST_TMP/pin
state_dir = $TEST_TMP/alice-state
[machine]
keytab = $AE_LAB_DIR/ws1.keytab
state_dir = $TEST_TMP/machine-state
CONF
req() { as_user alice "$AUTOENROLL" request -c "$TEST_TMP/user.conf" "$@"; }
privkeys() { # number of private keys on the token with autoenroll's label
	pkcs11-tool --module $MODULE --token-label ae-itest --login --pin 1111 --list-objects --type privkey 2>/dev/null |
		grep -c 'label: *autoenroll '
}
records() { ls "$TEST_TMP/alice-state/records" 2>/dev/null | grep -c '\.rec$'; }

# --- RSA on the token ---
req --template LabUser --out "$TEST_TMP/labuser.pem" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
ok $? "request --template LabUser with the key on the token"
[ $? -eq 0 ] || diag "$(cat "$TEST_TMP/err")"
openssl req -in "$TEST_TMP/labuser.pem" -verify -noout 2>&1 | grep -q "verify OK"
ok $? "openssl req -verify accepts the request"
oid=$(as_user alice "$AUTOENROLL" policy --json | jq -r '.templates[] | select(.name=="LabUser") | "\(.oid) \(.major) \(.minor)"')
got=$(/usr/bin/python3 - "$TEST_TMP/labuser.pem" <<'PY'
import sys
from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier
from pyasn1.codec.der import decoder
csr = x509.load_pem_x509_csr(open(sys.argv[1], 'rb').read())
ext = csr.extensions.get_extension_for_oid(ObjectIdentifier('1.3.6.1.4.1.311.21.7'))
t, rest = decoder.decode(ext.value.value)
assert not rest
print(t[0], int(t[1]), int(t[2]))
PY
)
[ -n "$got" ] && [ "$got" = "$oid" ]
ok $? "template extension is LabUser's OID and version from AD ($got)"
[ "$(openssl req -in "$TEST_TMP/labuser.pem" -noout -subject | sed 's/subject=//; s/ //g')" = "" ]
ok $? "empty subject: the CA builds it from AD"
pkcs11-tool --module $MODULE --token-label ae-itest --login --pin 1111 --list-objects --type privkey \
	>"$TEST_TMP/objs" 2>/dev/null
grep -q "label: *autoenroll LabUser" "$TEST_TMP/objs"; ok $? "the key is on the token, labelled with the template"
# LabUser is a duplicate of User, whose msPKI-Private-Key-Flag has
# EXPORTABLE_KEY (0x10): the key may be extractable, but never in the clear
grep -A4 "label: *autoenroll LabUser" "$TEST_TMP/objs" | grep -q "sensitive"
ok $? "the key on the token is sensitive"
as_user alice "$AUTOENROLL" status --json -c "$TEST_TMP/user.conf" >"$TEST_TMP/status.json"
ok $? "status --json"
[ "$(jq -r '.records[0] | "\(.store) \(.state) \(.template) \(.ca)"' "$TEST_TMP/status.json")" = "REQUEST requested LabUser CORP-CA1" ]
ok $? "the request is in the REQUEST store with its template and CA"
id=$(jq -r '.records[0].id' "$TEST_TMP/status.json")
jq -r '.records[0].key' "$TEST_TMP/status.json" | grep -q "^pkcs11:.*token=ae-itest"
ok $? "status gives the key as a PKCS#11 URI"
grep -A6 "label: *autoenroll LabUser" "$TEST_TMP/objs" | grep -qi "ID: *$id"
ok $? "the key's CKA_ID is the record id"
jq -r '.records[0].key_store' "$TEST_TMP/status.json" | grep -q pin-value
[ $? -ne 0 ]; ok $? "no PIN in the record"
as_user alice "$AUTOENROLL" status -c "$TEST_TMP/user.conf" | grep -Eq "^REQUEST +requested +LabUser"
ok $? "status table"

# --- ECDSA template ---
req --template LabECDSA --out "$TEST_TMP/ecdsa.pem" >/dev/null 2>"$TEST_TMP/err"
ok $? "request --template LabECDSA"
openssl req -in "$TEST_TMP/ecdsa.pem" -noout -text | grep -q "NIST CURVE: P-256\|prime256v1"
ok $? "LabECDSA gets a P-256 key"
openssl req -in "$TEST_TMP/ecdsa.pem" -verify -noout 2>&1 | grep -q "verify OK"
ok $? "ECDSA request verifies"

# --- wrong context, unknown template, bad PIN ---
req --template LabMachine --out "$TEST_TMP/x.pem" >/dev/null 2>"$TEST_TMP/err"
[ $? -eq 1 ] && grep -q "machine template: use --machine" "$TEST_TMP/err"
ok $? "a machine template in the user context is refused with advice"
req --template NoSuchTemplate --out "$TEST_TMP/x.pem" >/dev/null 2>"$TEST_TMP/err"
[ $? -eq 1 ] && grep -q "no certificate template named NoSuchTemplate" "$TEST_TMP/err"
ok $? "unknown template: clear error"
sed 's/pin-source=[^ ]*/pin-value=9999/' "$TEST_TMP/user.conf" >"$TEST_TMP/badpin.conf"
as_user alice "$AUTOENROLL" request -c "$TEST_TMP/badpin.conf" --template LabUser --out "$TEST_TMP/x.pem" \
	>/dev/null 2>"$TEST_TMP/err"
[ $? -eq 1 ] && grep -qi "wrong PIN" "$TEST_TMP/err"
ok $? "wrong PIN: clear error"
[ "$(privkeys)" -eq 2 ] && [ "$(records)" -eq 2 ]
ok $? "failed requests leave no key and no record"

# --- machine context, file backend ---
as_machine "$AUTOENROLL" request --machine -c "$TEST_TMP/user.conf" --template LabMachine \
	--out "$TEST_TMP/machine.pem" >/dev/null 2>"$TEST_TMP/err"
ok $? "request --machine --template LabMachine (file store)"
openssl req -in "$TEST_TMP/machine.pem" -verify -noout 2>&1 | grep -q "verify OK"
ok $? "machine request verifies"
k=$(ls "$TEST_TMP"/machine-state/keys/*.key 2>/dev/null | head -1)
[ -n "$k" ] && [ "$(stat -c %a "$k")" = 600 ] && [ "$(stat -c %a "$TEST_TMP/machine-state/keys")" = 700 ]
ok $? "machine key file is 0600 in a 0700 directory"

# --- SIGKILL at each step: the next run leaves no orphan and no duplicate ---
for point in store-before-rename request-after-record request-after-keygen request-after-out request-after-final; do
	before_keys=$(privkeys)
	before_recs=$(records)
	AE_TEST_CRASH_AT=$point req --template LabUser --out "$TEST_TMP/crash.pem" >/dev/null 2>&1
	rc=$?
	[ $rc -eq 137 ] || diag "$point: exit $rc (expected SIGKILL)"
	req --template LabUser --out "$TEST_TMP/after.pem" >/dev/null 2>"$TEST_TMP/err"
	rc2=$?
	keys=$(privkeys)
	recs=$(records)
	new=$(grep -l "state = new" "$TEST_TMP"/alice-state/records/*.rec 2>/dev/null | wc -l)
	if [ "$point" = request-after-final ]; then want=$((before_keys + 2)); else want=$((before_keys + 1)); fi
	[ $rc -eq 137 ] && [ $rc2 -eq 0 ] && [ "$keys" -eq "$want" ] && [ "$recs" -eq "$want" ] && [ "$new" -eq 0 ]
	ok $? "killed at $point: next run recovers (keys $before_keys -> $keys, records $before_recs -> $recs, want $want each, none left new)"
done
ls "$TEST_TMP"/alice-state/records | grep -q tmp; [ $? -ne 0 ]
ok $? "no temporary files left"

done_testing
