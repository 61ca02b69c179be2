#!/bin/bash
# status.sh - autoenroll status on a local store with an issued
# certificate (made here with openssl): expiry, when renewal is due (the
# whitepaper's rule), the key's location, and the export for applications
# that want files.  Needs no lab and no root.
. "$(dirname "$0")/lib.sh"
[ -x "$AUTOENROLL" ] || skip_all "autoenroll is not built"
command -v jq >/dev/null || skip_all "jq is not installed"

st=$TEST_TMP/state
mkdir -p -m 700 "$st" "$st/records" "$st/certs"
id=0a1b2c3d
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TEST_TMP/k.pem" \
	-subj "/CN=alice" -days 365 -out "$st/certs/$id.pem" \
	-addext "subjectAltName=DNS:ws1.corp.test,otherName:1.3.6.1.4.1.311.20.2.3;UTF8:alice@corp.test,IP:192.0.2.7,IP:2001:db8::7" \
	-addext "extendedKeyUsage=clientAuth,1.3.6.1.4.1.311.20.2.2,1.2.3.4" 2>/dev/null
ok $? "certificate made"
mkdir -p -m 700 "$st/keys" && install -m 600 "$TEST_TMP/k.pem" "$st/keys/$id.key"
cat >"$st/records/$id.rec" <<REC
version = 1
id = $id
state = issued
template = LabUser
template_oid = 1.3.6.1.4.1.311.21.8.1.1.101
template_major = 100
template_minor = 2
renewal_seconds = 3628800
policy_server = LDAP:
ca = CORP-CA1
key_store = file:$st
key_uri = $st/keys/$id.key
created = 1795000000
updated = 1795000000
REC
printf '[user]\nstate_dir = %s\n' "$st" >"$TEST_TMP/ae.conf"

"$AUTOENROLL" status --json -c "$TEST_TMP/ae.conf" >"$TEST_TMP/s.json" 2>"$TEST_TMP/err"
ok $? "status --json"
[ "$(jq -r '.records[0] | "\(.store) \(.state) \(.template) \(.major).\(.minor)"' "$TEST_TMP/s.json")" = "MY issued LabUser 100.2" ]
ok $? "the issued certificate is in the Personal (MY) store"
na=$(date -u -d "$(openssl x509 -in "$st/certs/$id.pem" -noout -enddate | cut -d= -f2)" +%s)
due=$(date -u -d "$(jq -r '.records[0].certificate.renewal_due' "$TEST_TMP/s.json")" +%s)
[ $((na - due)) -eq 3628800 ]
ok $? "renewal due 6 weeks before expiry for a 1-year certificate with a 6-week renewal period"
[ "$(jq -r '.records[0].certificate.subject' "$TEST_TMP/s.json")" = "/CN=alice" ]; ok $? "subject"
[ "$(jq -r '.records[0].key' "$TEST_TMP/s.json")" = "$st/keys/$id.key" ]; ok $? "key location"
[ "$(jq -c '.records[0].certificate.san' "$TEST_TMP/s.json")" = '["DNS:ws1.corp.test","UPN:alice@corp.test","IP:192.0.2.7","IP:2001:db8::7"]' ]
ok $? "subject alternative names"
[ "$(jq -c '.records[0].certificate.eku' "$TEST_TMP/s.json")" = '[{"oid":"1.3.6.1.5.5.7.3.2","name":"Client Authentication"},{"oid":"1.3.6.1.4.1.311.20.2.2","name":"Smart Card Logon"},{"oid":"1.2.3.4","name":null}]' ]
ok $? "extended key usages, named where Windows names them"
sha1=$(openssl x509 -in "$st/certs/$id.pem" -noout -fingerprint -sha1 | cut -d= -f2 | tr -d :)
sha256=$(openssl x509 -in "$st/certs/$id.pem" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d :)
[ "$(jq -r '.records[0].certificate | "\(.thumbprint) \(.thumbprint_sha256)"' "$TEST_TMP/s.json")" = "$sha1 $sha256" ]
ok $? "thumbprints (SHA-1 as Windows shows it, and SHA-256)"
"$AUTOENROLL" status -c "$TEST_TMP/ae.conf" >"$TEST_TMP/s.txt" 2>"$TEST_TMP/err"
grep -q "thumbprint $sha1" "$TEST_TMP/s.txt" && grep -q "SAN DNS:ws1.corp.test, UPN:alice@corp.test, IP:192.0.2.7, IP:2001:db8::7" "$TEST_TMP/s.txt" &&
	grep -q "EKU Client Authentication (1.3.6.1.5.5.7.3.2), Smart Card Logon (1.3.6.1.4.1.311.20.2.2), 1.2.3.4" "$TEST_TMP/s.txt"
ok $? "the table shows thumbprint, SANs and EKUs under the certificate" || cat "$TEST_TMP/s.txt"

"$AUTOENROLL" status -c "$TEST_TMP/ae.conf" --export "$TEST_TMP/export" >/dev/null 2>"$TEST_TMP/err"
ok $? "status --export"
cmp -s "$TEST_TMP/export/LabUser.pem" "$st/certs/$id.pem"; ok $? "exported certificate (and chain) as PEM"
openssl pkey -in "$TEST_TMP/export/LabUser.key" -noout 2>/dev/null; ok $? "exported key: openssl pkey reads it"
[ "$(openssl pkey -in "$TEST_TMP/export/LabUser.key" -pubout 2>/dev/null)" = \
  "$(openssl x509 -in "$TEST_TMP/export/LabUser.pem" -noout -pubkey)" ]; ok $? "exported key matches the certificate"
[ "$(stat -c %a "$TEST_TMP/export/LabUser.key")" = 600 ]; ok $? "exported key is 0600"
[ ! -e "$TEST_TMP/export/LabUser.key.uri" ]; ok $? "no key URI file for a file-store key"
grep -q "LabUser: .*private key (PEM, 0600) in $TEST_TMP/export/LabUser.key" "$TEST_TMP/err"; ok $? "the export says where the key went"

# A key on a token: its URI in LabUser.key.uri, and no .key (the stale one goes).
sed -i "s|^key_uri = .*|key_uri = pkcs11:token=T;id=%0a%1b;type=private|" "$st/records/$id.rec"
"$AUTOENROLL" status -c "$TEST_TMP/ae.conf" --export "$TEST_TMP/export" >/dev/null 2>"$TEST_TMP/err"
ok $? "status --export, token key"
[ "$(cat "$TEST_TMP/export/LabUser.key.uri")" = "pkcs11:token=T;id=%0a%1b;type=private" ]; ok $? "exported key URI"
[ ! -e "$TEST_TMP/export/LabUser.key" ]; ok $? "no fake .key file for a token key"
grep -q "key on a PKCS#11 token.*LabUser.key.uri" "$TEST_TMP/err"; ok $? "the export says the key stays on the token"
sed -i "s|^key_uri = .*|key_uri = $st/keys/$id.key|" "$st/records/$id.rec"

printf 'garbage' >"$st/records/ffff.rec"
"$AUTOENROLL" status --json -c "$TEST_TMP/ae.conf" >"$TEST_TMP/s.json" 2>"$TEST_TMP/err"
[ $? -eq 0 ] && [ "$(jq '.records | length' "$TEST_TMP/s.json")" = 1 ] && grep -q "record skipped" "$TEST_TMP/err"
ok $? "a damaged record is reported and skipped, the rest listed"
[ -e "$st/records/ffff.rec" ]; ok $? "the damaged record is kept"

printf '[user]\nstate_dir = %s/none\n' "$TEST_TMP" >"$TEST_TMP/empty.conf"
"$AUTOENROLL" status -c "$TEST_TMP/empty.conf" | grep -q "No certificates or requests yet"
ok $? "an empty store says so"

done_testing
