#!/bin/bash
# consumers.sh - the certificates autoenroll enrolls, used by the programs
# people use them with (the "USING THE CERTIFICATES" section of
# autoenroll(8)): alice's LabUser certificate with its key on a SoftHSM2
# token, the machine's LabMachine certificate with its key in the file
# store, then
#   NSS (modutil, certutil) lists the token's certificate next to its key,
#   ssh-keygen -D lists the token's key,
#   openssl s_client and curl authenticate to a loopback openssl s_server
#   that demands a client certificate chaining to the lab CA, once with the
#   token key (libengine-pkcs11-openssl) and once with the file key.
# Each consumer is skipped, with the reason, when its package is missing
# (tests/deps.sh installs them all).  Changes nothing outside TEST_TMP.
. "$(dirname "$0")/lib.sh"
lab_require
MODULE=/usr/lib/softhsm/libsofthsm2.so
ENGINE=/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so
[ -e "$MODULE" ] && command -v softhsm2-util >/dev/null ||
	skip_all "SoftHSM2 is needed (tests/deps.sh)"
. <("$LABCTL" env)

softhsm_token ae-use
cat >"$TEST_TMP/ae.conf" <<CONF
[user]
store = pkcs11:token=ae-use;module-path=$MODULE?pin-source=$TEST_TMP/pin
state_dir = $TEST_TMP/alice
[machine]
keytab = $AE_LAB_DIR/ws1.keytab
store = file:$TEST_TMP/mstore
state_dir = $TEST_TMP/machine
CONF

# --- the certificates ---
as_user alice "$AUTOENROLL" enroll --template LabUser -c "$TEST_TMP/ae.conf" >/dev/null 2>"$TEST_TMP/err"
ok $? "alice enrolls for LabUser, key on the SoftHSM2 token" || diag "$(cat "$TEST_TMP/err")"
as_user alice "$AUTOENROLL" status --json -c "$TEST_TMP/ae.conf" 2>/dev/null >"$TEST_TMP/status.json"
id=$(jq -r '.records[] | select(.template=="LabUser" and .state=="issued") | .id' "$TEST_TMP/status.json" | head -1)
ucert=$TEST_TMP/alice/certs/$id.pem
[ -n "$id" ] && [ -s "$ucert" ]; ok $? "her certificate ($id) and its record"
# The key's URI as autoenroll's status gives it, with the PIN for tools
# that take it in the URI (pin-value; interactive use would prompt).
ukey=$(jq -r --arg i "$id" '.records[] | select(.id==$i) | .key' "$TEST_TMP/status.json")
case $ukey in pkcs11:*) true ;; *) false ;; esac
ok $? "status gives the token key as a PKCS#11 URI ($ukey)"
ukey_pin="${ukey%%\?*};pin-value=1111"
ukey_pin=${ukey_pin/;module-path=[^;]*/}

as_machine "$AUTOENROLL" enroll --machine --template LabMachine -c "$TEST_TMP/ae.conf" >/dev/null 2>"$TEST_TMP/err"
ok $? "the machine enrolls for LabMachine, key in the file store" || diag "$(cat "$TEST_TMP/err")"
as_machine "$AUTOENROLL" status --machine --json -c "$TEST_TMP/ae.conf" 2>/dev/null >"$TEST_TMP/mstatus.json"
mid=$(jq -r '.records[] | select(.template=="LabMachine" and .state=="issued") | .id' "$TEST_TMP/mstatus.json" | head -1)
mcert=$TEST_TMP/machine/certs/$mid.pem
[ -s "$mcert" ] || mcert=$TEST_TMP/mstore/certs/$mid.pem
mkey=$(jq -r --arg i "$mid" '.records[] | select(.id==$i) | .key' "$TEST_TMP/mstatus.json")
# The file store keeps each key as unencrypted PKCS#8 PEM: OpenSSL and
# curl read it as it is.
[ -n "$mid" ] && [ -s "$mcert" ] && openssl pkey -in "$mkey" -noout 2>/dev/null
ok $? "the machine's key file ($mkey) is a PEM key openssl reads"

cat "$AE_LAB_DIR/pki/root.pem" "$AE_LAB_DIR/pki/ca1.pem" >"$TEST_TMP/labca.pem"

# --- NSS (Firefox, Chromium) ---
if command -v modutil >/dev/null && command -v certutil >/dev/null; then
	nss=sql:$TEST_TMP/nssdb
	mkdir -p "$TEST_TMP/nssdb"
	certutil -N -d "$nss" --empty-password >/dev/null 2>&1 &&
		modutil -dbdir "$nss" -add ae-softhsm -libfile "$MODULE" -force >/dev/null 2>&1
	ok $? "modutil adds the token's module to an NSS database"
	echo 1111 >"$TEST_TMP/nss-pin"
	certutil -d "$nss" -L -h all >"$TEST_TMP/nss-certs" 2>&1
	grep -q "^ae-use:autoenroll LabUser" "$TEST_TMP/nss-certs"
	ok $? "certutil -L -h all lists the token's certificate" || diag "$(cat "$TEST_TMP/nss-certs")"
	certutil -d "$nss" -K -h ae-use -f "$TEST_TMP/nss-pin" >"$TEST_TMP/nss-keys" 2>&1
	# certutil -K prints each key's CKA_ID: the certificate's (autoenroll
	# gives both the same), which is how NSS pairs them.
	grep -qi "rsa *$id" "$TEST_TMP/nss-keys"
	ok $? "certutil -K lists its key, with the certificate's CKA_ID" ||
		diag "$(cat "$TEST_TMP/nss-keys")"
else
	ok 0 "# SKIP NSS: modutil and certutil are missing (libnss3-tools)"
fi

# --- OpenSSH ---
if command -v ssh-keygen >/dev/null; then
	ssh-keygen -D "$MODULE" >"$TEST_TMP/ssh-keys" 2>"$TEST_TMP/ssh-err"
	openssl x509 -in "$ucert" -noout -pubkey >"$TEST_TMP/upub.pem"
	want=$(ssh-keygen -i -m PKCS8 -f "$TEST_TMP/upub.pem" | cut -d' ' -f2)
	[ -n "$want" ] && grep -q "$want" "$TEST_TMP/ssh-keys"
	ok $? "ssh-keygen -D lists the token key (no PIN needed: its public half is public)" ||
		diag "$(cat "$TEST_TMP/ssh-keys" "$TEST_TMP/ssh-err")"
else
	ok 0 "# SKIP OpenSSH: ssh-keygen is missing (openssh-client)"
fi

# --- TLS client authentication against a loopback openssl s_server ---
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
	-keyout "$TEST_TMP/srv.key" -out "$TEST_TMP/srv.pem" 2>/dev/null
port=$((20000 + RANDOM % 20000))
# -Verify: a client certificate is required; -verify_return_error: one
# that does not chain to the lab CA ends the handshake.
openssl s_server -accept "127.0.0.1:$port" -www -Verify 2 -verify_return_error \
	-CAfile "$TEST_TMP/labca.pem" -cert "$TEST_TMP/srv.pem" -key "$TEST_TMP/srv.key" \
	>"$TEST_TMP/s_server.log" 2>&1 &
kill_at_exit $!
for _ in $(seq 50); do
	grep -q ACCEPT "$TEST_TMP/s_server.log" && break
	sleep 0.1
done
grep -q ACCEPT "$TEST_TMP/s_server.log"; ok $? "openssl s_server -Verify listens on 127.0.0.1:$port"

# s_client KEYARGS...: GET / through s_client; the -www page comes back
# only after the server accepted the client's certificate.
s_client() {
	printf 'GET / HTTP/1.0\r\n\r\n' |
		openssl s_client -connect "127.0.0.1:$port" -quiet -ign_eof "$@" 2>"$TEST_TMP/s_client.err" |
		grep -q "^HTTP/1.0 200 ok"
}
curl_tls() {
	curl -sS --max-time 20 --cacert "$TEST_TMP/srv.pem" "https://127.0.0.1:$port/" "$@" \
		2>"$TEST_TMP/curl.err" | grep -q "Client certificate"
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=alice \
	-keyout "$TEST_TMP/rogue.key" -out "$TEST_TMP/rogue.pem" 2>/dev/null
! s_client -cert "$TEST_TMP/rogue.pem" -key "$TEST_TMP/rogue.key" &&
	! curl_tls --cert "$TEST_TMP/rogue.pem" --key "$TEST_TMP/rogue.key" && ! curl_tls
ok $? "the server refuses no certificate and one that does not chain to the lab CA"

s_client -cert "$mcert" -key "$mkey"
ok $? "openssl s_client authenticates with the machine certificate and its file key" ||
	diag "$(tail -5 "$TEST_TMP/s_client.err")"
curl_tls --cert "$mcert" --key "$mkey"
ok $? "curl authenticates with the machine certificate and its file key" ||
	diag "$(cat "$TEST_TMP/curl.err")"

if [ -e "$ENGINE" ]; then
	# libp11's engine loads the module PKCS11_MODULE_PATH names (else
	# p11-kit's proxy, which loads every registered module).
	export PKCS11_MODULE_PATH=$MODULE
	s_client -engine pkcs11 -keyform engine -key "$ukey_pin" -cert "$ucert"
	ok $? "openssl s_client authenticates with the token key (engine pkcs11)" ||
		diag "key $ukey_pin" "$(tail -5 "$TEST_TMP/s_client.err")"
	curl_tls --engine pkcs11 --key-type ENG --key "$ukey_pin" --cert "$ucert"
	ok $? "curl authenticates with the token key (--key pkcs11:...)" ||
		diag "$(cat "$TEST_TMP/curl.err")"
	curl_tls --engine pkcs11 --key-type ENG --key "$ukey_pin" --cert-type ENG \
		--cert "pkcs11:token=ae-use;object=autoenroll%20LabUser;type=cert"
	ok $? "curl authenticates with the certificate and the key both on the token" ||
		diag "$(cat "$TEST_TMP/curl.err")"
	unset PKCS11_MODULE_PATH
else
	ok 0 "# SKIP OpenSSL and curl with the token key: no pkcs11 engine (libengine-pkcs11-openssl)"
fi
grep -q "verify return:1" "$TEST_TMP/s_server.log" && grep -q "CN *= *CORP-CA1" "$TEST_TMP/s_server.log"
ok $? "the server verified the client chains up to CORP-CA1" || diag "$(cat "$TEST_TMP/s_server.log")"

done_testing
