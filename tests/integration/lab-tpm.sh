#!/bin/bash
# lab-tpm.sh - keys on a TPM through tpm2-pkcs11, as with SoftHSM2: a
# software TPM (swtpm) behind the TPM2 access broker (tpm2-abrmd on a
# private D-Bus; without a resource manager tpm2_ptool runs the TPM out of
# object slots), a tpm2-pkcs11 token made with tpm2_ptool, and alice
# enrolling LabUser and LabECDSA with the key generated in the TPM; the
# certificate lands on the token next to its key, `enroll --renew`
# makes a new TPM key, and status --export hands out a key.uri.  A
# template asking for more than the TPM can make (LabRSA4096; swtpm makes
# RSA keys of 1024 to 3072 bits) fails with a message naming the limit.
#
# Everything runs in the lab's namespace, swtpm on its loopback: nothing
# listens in the host's.  The tpm2-pkcs11 module is named by module-path,
# so the test does not depend on p11-kit's registration of it.
. "$(dirname "$0")/lib.sh"
lab_require
MODULE=/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so
for c in swtpm tpm2-abrmd tpm2_ptool dbus-daemon pkcs11-tool; do
	command -v "$c" >/dev/null 2>&1 || skip_all "$c is not installed (tests/deps.sh)"
done
[ -e "$MODULE" ] || skip_all "libtpm2-pkcs11-1 is not installed (tests/deps.sh)"
. <("$LABCTL" env)
TPM_PORT=2321

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	[ -s "$TEST_TMP/swtpm.pid" ] && kill "$(cat "$TEST_TMP/swtpm.pid")" 2>/dev/null
	[ -s "$TEST_TMP/dbus.pid" ] && kill "$(cat "$TEST_TMP/dbus.pid")" 2>/dev/null
	rm -rf "$TEST_TMP"
}
trap cleanup EXIT

mkdir -p "$TEST_TMP/tpmstate" "$TEST_TMP/tpm2store"
in_lab swtpm socket --tpm2 --tpmstate dir="$TEST_TMP/tpmstate" \
	--server type=tcp,port=$TPM_PORT,bindaddr=127.0.0.1 \
	--ctrl type=tcp,port=$((TPM_PORT + 1)),bindaddr=127.0.0.1 \
	--flags not-need-init,startup-clear --daemon --pid file="$TEST_TMP/swtpm.pid" \
	--log file="$TEST_TMP/swtpm.log"
ok $? "swtpm runs in the lab's namespace (127.0.0.1:$TPM_PORT)" || diag "$(cat "$TEST_TMP/swtpm.log" 2>/dev/null)"
dbus-daemon --session --fork --address="unix:path=$TEST_TMP/bus" --print-pid=3 3>"$TEST_TMP/dbus.pid"
export DBUS_SESSION_BUS_ADDRESS=unix:path=$TEST_TMP/bus
in_lab tpm2-abrmd --session --allow-root --tcti="swtpm:host=127.0.0.1,port=$TPM_PORT" \
	>"$TEST_TMP/abrmd.log" 2>&1 &
pids+=($!)
export TPM2TOOLS_TCTI=tabrmd:bus_type=session TPM2_PKCS11_TCTI=tabrmd:bus_type=session
export TPM2_PKCS11_STORE=$TEST_TMP/tpm2store
made=1
for _ in $(seq 50); do
	tpm2_ptool init --path "$TEST_TMP/tpm2store" >"$TEST_TMP/init.out" 2>&1 && { made=0; break; }
	sleep 0.2 # the broker is still connecting to swtpm
done
[ $made -eq 0 ] &&
	tpm2_ptool addtoken --pid=1 --label=ae-tpm --userpin=1111 --sopin=4321 \
		--path "$TEST_TMP/tpm2store" >"$TEST_TMP/addtoken.out" 2>&1
ok $? "tpm2_ptool makes the token ae-tpm in the TPM" ||
	diag "$(cat "$TEST_TMP/init.out" "$TEST_TMP/addtoken.out" "$TEST_TMP/abrmd.log")"
printf '1111' >"$TEST_TMP/pin"
chmod 600 "$TEST_TMP/pin"
pk() { pkcs11-tool --module "$MODULE" --token-label ae-tpm --login --pin 1111 "$@" 2>/dev/null; }

cat >"$TEST_TMP/ae.conf" <<CONF
[global]
rpc_timeout = 10
[user]
store = pkcs11:token=ae-tpm?module-path=$MODULE&pin-source=$TEST_TMP/pin
state_dir = $TEST_TMP/alice
CONF
ae() { as_user alice "$AUTOENROLL" "$@" -c "$TEST_TMP/ae.conf"; }

# --- LabUser, RSA-2048 in the TPM ---
start=$(date +%s.%N)
ae enroll --template LabUser >"$TEST_TMP/out" 2>"$TEST_TMP/err"
ok $? "alice enrolls for LabUser with the key in the TPM ($(echo "$(date +%s.%N) - $start" | bc | cut -c1-4) s)" ||
	diag "$(cat "$TEST_TMP/err")"
ae status --json >"$TEST_TMP/status.json" 2>/dev/null
id=$(jq -r '.records[] | select(.template=="LabUser" and .state=="issued") | .id' "$TEST_TMP/status.json" | head -1)
[ -n "$id" ]; ok $? "status lists the LabUser certificate"
jq -e --arg id "$id" '.records[] | select(.id==$id) | .key | test("token=ae-tpm")' \
	"$TEST_TMP/status.json" >/dev/null
ok $? "its key is named on the TPM token" || diag "$(jq -c --arg id "$id" '.records[] | select(.id==$id)' "$TEST_TMP/status.json")"
pk --list-objects --type cert | grep -qi "ID: *$id"
ok $? "the certificate is on the TPM token with its key's CKA_ID"
pk --list-objects --type privkey | grep -qi "ID: *$id"
ok $? "the private key is a TPM object with that CKA_ID"
cert=$TEST_TMP/alice/certs/$id.pem
openssl verify -CAfile "$AE_LAB_DIR/pki/root.pem" -untrusted "$AE_LAB_DIR/pki/ca1.pem" "$cert" >/dev/null 2>&1
ok $? "the certificate chains to the lab root"
# The TPM's public key is the certificate's: sign with the TPM, verify with the certificate.
printf 'autoenroll tpm' >"$TEST_TMP/data"
pk --sign --id "$id" -m SHA256-RSA-PKCS -i "$TEST_TMP/data" -o "$TEST_TMP/sig" &&
	openssl x509 -in "$cert" -noout -pubkey >"$TEST_TMP/pub.pem" &&
	openssl dgst -sha256 -verify "$TEST_TMP/pub.pem" -signature "$TEST_TMP/sig" "$TEST_TMP/data" >/dev/null
ok $? "a signature made in the TPM verifies with the certificate's public key"

# --- ECDSA P-256 in the TPM ---
ae enroll --template LabECDSA >/dev/null 2>"$TEST_TMP/err"
ok $? "alice enrolls for LabECDSA (P-256 key in the TPM)" || diag "$(cat "$TEST_TMP/err")"

# --- renewal: a new key in the TPM ---
ae enroll --renew "$id" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
ok $? "enroll --renew of the TPM-backed certificate" || diag "$(cat "$TEST_TMP/err")"
ae status --json >"$TEST_TMP/status2.json" 2>/dev/null
new=$(jq -r --arg id "$id" '.records[] | select(.template=="LabUser" and .state=="issued" and .id!=$id) | .id' \
	"$TEST_TMP/status2.json" | head -1)
[ -n "$new" ] && pk --list-objects --type privkey | grep -qi "ID: *$new"
ok $? "the renewal's key is a new TPM object ($new)"

# --- export: a PKCS#11 URI, not a key file ---
mkdir -p "$TEST_TMP/export"
ae status --export "$TEST_TMP/export" >/dev/null 2>"$TEST_TMP/err"
grep -q "token=ae-tpm" "$TEST_TMP/export/LabUser.key.uri" 2>/dev/null &&
	! grep -q "PRIVATE KEY" "$TEST_TMP/export/LabUser.key.uri"
ok $? "status --export writes a key.uri naming the TPM token" || diag "$(cat "$TEST_TMP/err")" "$(ls "$TEST_TMP/export" 2>&1)"

# --- a TPM limit: RSA-4096 ---
ae enroll --template LabRSA4096 >/dev/null 2>"$TEST_TMP/err"
rc=$?
[ $rc -ne 0 ] && grep -q 'token "ae-tpm" refuses RSA 4096-bit keys: it makes RSA keys of 1024 to 3072 bits' "$TEST_TMP/err"
ok $? "LabRSA4096: refused, the message names the TPM's limit (exit $rc)" || diag "$(cat "$TEST_TMP/err")"
ae status --json 2>/dev/null | jq -e '[.records[] | select(.template=="LabRSA4096")] | length == 0' >/dev/null
ok $? "nothing is left behind for LabRSA4096"

done_testing
