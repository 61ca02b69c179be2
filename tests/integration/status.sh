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
	-subj "/CN=alice" -days 365 -out "$st/certs/$id.pem" 2>/dev/null
ok $? "certificate made"
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

"$AUTOENROLL" status -c "$TEST_TMP/ae.conf" --export "$TEST_TMP/export" >/dev/null 2>"$TEST_TMP/err"
ok $? "status --export"
cmp -s "$TEST_TMP/export/LabUser.pem" "$st/certs/$id.pem"; ok $? "exported certificate (and chain) as PEM"
[ "$(cat "$TEST_TMP/export/LabUser.key")" = "$st/keys/$id.key" ]; ok $? "exported key location"

printf 'garbage' >"$st/records/ffff.rec"
"$AUTOENROLL" status --json -c "$TEST_TMP/ae.conf" >"$TEST_TMP/s.json" 2>"$TEST_TMP/err"
[ $? -eq 0 ] && [ "$(jq '.records | length' "$TEST_TMP/s.json")" = 1 ] && grep -q "record skipped" "$TEST_TMP/err"
ok $? "a damaged record is reported and skipped, the rest listed"
[ -e "$st/records/ffff.rec" ]; ok $? "the damaged record is kept"

printf '[user]\nstate_dir = %s/none\n' "$TEST_TMP" >"$TEST_TMP/empty.conf"
"$AUTOENROLL" status -c "$TEST_TMP/empty.conf" | grep -q "No certificates or requests yet"
ok $? "an empty store says so"

done_testing
