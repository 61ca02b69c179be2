#!/bin/bash
# lab-tpm.sh - enrollment with the key on a TPM, through tpm2-pkcs11, as
# with any other PKCS#11 token: a software TPM (swtpm) on 127.0.0.1, the
# access broker tpm2-abrmd on a private D-Bus bus (tpm2_ptool runs several
# TPM commands in a row and, talking to the TPM directly, would fill its
# 3 transient object slots; the broker also reaches into the lab's network
# namespace, where 127.0.0.1 is another host, through its Unix socket),
# a tpm2-pkcs11 store with the token "aetpm".  Then alice enrolls for
# LabUser (RSA 2048) and LabECDSA (P-256) with keys on the TPM, and a
# template asking for more bits than the TPM makes is refused with the
# TPM's limit named.  Everything it starts is stopped by its PID.
. "$(dirname "$0")/lib.sh"
TMOD=/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so
for need in swtpm:swtpm tpm2_ptool:libtpm2-pkcs11-tools tpm2_getcap:tpm2-tools \
	/usr/sbin/tpm2-abrmd:tpm2-abrmd dbus-daemon:dbus-daemon pkcs11-tool:opensc; do
	command -v "${need%%:*}" >/dev/null || skip_all "${need%%:*} is missing (${need#*:}; tests/deps.sh)"
done
[ -e "$TMOD" ] || skip_all "tpm2-pkcs11 is missing (libtpm2-pkcs11-1; tests/deps.sh)"
ls /usr/lib/x86_64-linux-gnu/libtss2-tcti-tabrmd.so.0* >/dev/null 2>&1 ||
	skip_all "the tabrmd TCTI is missing (libtss2-tcti-tabrmd0; tests/deps.sh)"
lab_require
. <("$LABCTL" env)

port=$((20000 + RANDOM % 20000))
mkdir -p "$TEST_TMP/tpmstate" "$TEST_TMP/store"
swtpm socket --tpm2 --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
	--ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" --tpmstate "dir=$TEST_TMP/tpmstate" \
	--flags not-need-init,startup-clear >"$TEST_TMP/swtpm.log" 2>&1 &
kill_at_exit $!
dbus-daemon --session --nofork --address="unix:path=$TEST_TMP/bus" >/dev/null 2>&1 &
kill_at_exit $!
export DBUS_SESSION_BUS_ADDRESS=unix:path=$TEST_TMP/bus
sleep 0.3
/usr/sbin/tpm2-abrmd --session --allow-root --tcti="swtpm:host=127.0.0.1,port=$port" \
	>"$TEST_TMP/abrmd.log" 2>&1 &
kill_at_exit $!
export TPM2TOOLS_TCTI=tabrmd:bus_type=session TPM2_PKCS11_TCTI=tabrmd:bus_type=session
export TPM2_PKCS11_STORE=$TEST_TMP/store
for _ in $(seq 50); do
	tpm2_getcap properties-fixed >/dev/null 2>&1 && break
	sleep 0.2
done
tpm2_getcap properties-fixed >"$TEST_TMP/props" 2>&1
ok $? "swtpm on 127.0.0.1:$port answers through tpm2-abrmd" ||
	diag "$(cat "$TEST_TMP/props" "$TEST_TMP/swtpm.log" "$TEST_TMP/abrmd.log")"
tpm2_ptool init --path "$TEST_TMP/store" >/dev/null 2>"$TEST_TMP/err" &&
	tpm2_ptool addtoken --pid=1 --label=aetpm --userpin=1111 --sopin=4321 \
		--path "$TEST_TMP/store" >/dev/null 2>>"$TEST_TMP/err"
ok $? "tpm2_ptool makes the token aetpm" || diag "$(tail -5 "$TEST_TMP/err")"

printf '1111' >"$TEST_TMP/pin"
cat >"$TEST_TMP/ae.conf" <<CONF
[user]
store = pkcs11:token=aetpm;module-path=$TMOD?pin-source=$TEST_TMP/pin
state_dir = $TEST_TMP/alice
CONF
ae_alice() { as_user alice "$AUTOENROLL" "$@" -c "$TEST_TMP/ae.conf"; }
objects() { pkcs11-tool --module "$TMOD" --token-label aetpm --login --pin 1111 --list-objects "$@" 2>/dev/null; }

s=$(date +%s%N)
ae_alice enroll --template LabUser >/dev/null 2>"$TEST_TMP/err"
ok $? "alice enrolls for LabUser, RSA 2048 key on the TPM" || diag "$(cat "$TEST_TMP/err")"
diag "LabUser on the TPM: $((($(date +%s%N) - s) / 1000000)) ms (key generation, request, issuance)"
ae_alice status --json 2>/dev/null >"$TEST_TMP/status.json"
id=$(jq -r '.records[] | select(.template=="LabUser" and .state=="issued") | .id' "$TEST_TMP/status.json" | head -1)
cert=$TEST_TMP/alice/certs/$id.pem
openssl verify -CAfile "$AE_LAB_DIR/pki/root.pem" -untrusted "$AE_LAB_DIR/pki/ca1.pem" "$cert" >/dev/null 2>&1
ok $? "its certificate chains to the lab root"
objects --type cert | grep -qi "ID: *$id"
ok $? "the certificate is on the TPM token, with its key's CKA_ID"
objects --type privkey | grep -i -A8 "ID: *$id" >"$TEST_TMP/key" || objects --type privkey >"$TEST_TMP/key"
grep -q "RSA 2048" "$TEST_TMP/key" || objects --type privkey | grep -q "RSA 2048"
ok $? "its key is an RSA 2048 key on the TPM" || diag "$(objects --type privkey)"
# The certificate's public key is the TPM key's: the CA signed what the
# TPM made.
objects --type pubkey --id "$id" >/dev/null
pkcs11-tool --module "$TMOD" --token-label aetpm --read-object --type pubkey --id "$id" \
	-o "$TEST_TMP/tpmpub.der" >/dev/null 2>&1
openssl pkey -pubin -inform DER -in "$TEST_TMP/tpmpub.der" -outform DER -out "$TEST_TMP/a.der" 2>/dev/null &&
	openssl x509 -in "$cert" -noout -pubkey | openssl pkey -pubin -outform DER -out "$TEST_TMP/b.der" &&
	cmp -s "$TEST_TMP/a.der" "$TEST_TMP/b.der"
ok $? "the certificate certifies the TPM's public key"

ae_alice enroll --template LabECDSA >/dev/null 2>"$TEST_TMP/err"
ok $? "alice enrolls for LabECDSA, P-256 key on the TPM" || diag "$(cat "$TEST_TMP/err")"

ae_alice enroll --template LabRSA4096 >/dev/null 2>"$TEST_TMP/err"
[ $? -eq 1 ] && grep -q "cannot make a 4096-bit RSA key (TPM limit: RSA keys of [0-9]* to [0-9]* bits)" "$TEST_TMP/err"
ok $? "LabRSA4096: the TPM's limit is named" || true
diag "$(cat "$TEST_TMP/err")"
before=$(ls "$TEST_TMP/alice/records" | wc -l)
[ "$before" -eq "$(objects --type privkey | grep -c 'label:')" ]
ok $? "the refused request leaves no key or record behind (keys = records = $before)"

done_testing
