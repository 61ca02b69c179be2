#!/bin/bash
# gpo-file.sh - autoenroll gpo --file: a Registry.pol written by Samba's
# encoder (tests/data/regpol) decoded entry by entry with the settings it
# carries, --json, and damaged files refused with the offset, exit 1 and
# nothing printed on stdout.  Needs no lab and no root.
. "$(dirname "$0")/lib.sh"
[ -x "$AUTOENROLL" ] || skip_all "autoenroll is not built"
command -v jq >/dev/null || skip_all "jq is not installed"

T=$TEST_TMP
D="$top_srcdir/tests/data/regpol"

"$AUTOENROLL" gpo --file "$D/autoenroll.pol" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 0 ] && grep -q '^  AEPolicy  *REG_DWORD  *7 (0x7)$' "$T/out" &&
	grep -qF "0x7 enroll manage pending  ($D/autoenroll.pol)" "$T/out" &&
	grep -q 'LDAP: "Active Directory Enrollment Policy" .* (the LDAP: server used)  (' "$T/out" && [ ! -s "$T/err" ]
ok $? "the GPMC-shaped file: entries and settings" || diag "rc=$rc" "$(cat "$T/out" "$T/err")"

"$AUTOENROLL" gpo --file "$D/autoenroll.pol" --json >"$T/json"
[ $? -eq 0 ] && jq -e '(.entries | length) == 14 and .version == 1 and
	(.entries[] | select(.value == "AEPolicy") | .type == "REG_DWORD" and .data == 7 and .offset > 8) and
	.settings.aepolicy == 7 and .settings.offline_expiration_store_names == "MY" and
	(.settings.policy_servers[0] | .url == "LDAP:" and .ldap_default == true and .cost == 2147483645)' \
	"$T/json" >/dev/null
ok $? "--json: entries with offset, type and typed data; settings" || diag "$(head -c 2000 "$T/json")"

"$AUTOENROLL" gpo --file "$D/types.pol" --json >"$T/json"
jq -e '[.entries[].data] == ["café ✓", "%SystemRoot%\\x", "0001feff", 3735928559, 16909060, ["one", "two"],
	1234605616436508552, ""]' "$T/json" >/dev/null
ok $? "--json: every type Samba writes" || diag "$(jq -c '[.entries[].data]' "$T/json")"

"$AUTOENROLL" gpo --file "$D/certs-root.pol" --json >"$T/json"
jq -e --arg t "$(openssl x509 -inform DER -in "$D/root.der" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g')" \
	--arg f "$D/certs-root.pol" '.settings.certificates == [{"store": "Root", "thumbprint": $t, "gpo": $f}]' "$T/json" >/dev/null
ok $? "a GPO root certificate: its store and thumbprint (openssl's SHA-1)"

"$AUTOENROLL" gpo --file "$D/bad-size.pol" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && [ ! -s "$T/out" ] &&
	grep -q "bad-size.pol: Registry.pol damaged at byte 388: the size field (256 bytes) does not end at the entry's ']'; nothing of it is applied" "$T/err"
ok $? "a bad size field: exit 1, the offset named, nothing on stdout" || diag "rc=$rc" "$(cat "$T/out" "$T/err")"

"$AUTOENROLL" gpo --file "$D/truncated.pol" --json >"$T/out" 2>"$T/err"
[ $? -eq 1 ] && [ ! -s "$T/out" ] && grep -q 'damaged at byte 2970' "$T/err"
ok $? "a truncated file: exit 1, --json prints nothing"

"$AUTOENROLL" gpo --user --machine >/dev/null 2>&1
rc1=$?
"$AUTOENROLL" gpo --file "$D/empty.pol" --machine >/dev/null 2>&1
rc2=$?
[ $rc1 -eq 2 ] && [ $rc2 -eq 2 ]; ok $? "gpo --user --machine, --file with --machine: usage errors"

done_testing
