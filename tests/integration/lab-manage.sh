#!/bin/bash
# lab-manage.sh - the whitepaper's Manage and RetrievePending rules against
# the lab, each asserting what Windows does:
#   - Manage renews a certificate enrolled by hand when it is due, also
#     with Enroll off (aepolicy "manage, retrieve-pending" = 6), and the
#     cheap check (policy cached) notices it is due;
#   - an expired certificate enrolled by hand gets a new request under
#     Manage ("Renew expired certificates"), not a renewal;
#   - CT_FLAG_SKIP_AUTO_RENEWAL: never renewed automatically, the pulse
#     says why (--json, journal), and the cheap check is not defeated;
#   - RetrievePending off: an approved request is not retrieved, and no
#     new request is made while it is pending; on again (aepolicy words),
#     it is retrieved;
#   - a user's pulse while a request is pending is a cheap pulse within
#     policy_refresh (no LDAP, no RPC) that still reports the request;
#   - CT_FLAG_REQUIRE_SAME_KEY_RENEWAL: the renewal keeps the key, in
#     the file store and on a token, and the CA (which enforces it)
#     issues it;
#   - the requests carry rmd = the workstation's dNSHostName, also a
#     user's (MS-WCCE 2.2.2.7.10).
# Time: the lab CA issues with the real clock; "later" is
# AE_TEST_NOW_OFFSET, which shifts only autoenroll's own decisions.
. "$(dirname "$0")/lib.sh"
lab_require
. <("$LABCTL" env)
CALOG=$AE_LAB_DIR/ca/requests.log
TPL_BASE="CN=Certificate Templates,CN=Public Key Services,CN=Services,$AE_LAB_CONFIG_NC"
DAY=86400
journal_sink

period() { /usr/bin/python3 -c 'import struct,base64,sys;print(base64.b64encode(struct.pack("<q",-int(sys.argv[1])*10**7)).decode())' "$1"; }
ldapmod() { "$LABCTL" run --admin -- ldapmodify -Q -Y GSSAPI -H ldap://dc1.corp.test >/dev/null 2>&1; }
tpl_set() { # NAME ATTR VALUE [":" for a base64 value]
	printf 'dn: CN=%s,%s\nchangetype: modify\nreplace: %s\n%s:%s %s\n' "$1" "$TPL_BASE" "$2" "$2" "${4:-}" "$3" | ldapmod
}
# Everything this test changes in AD goes back to templates.py's values.
restore() {
	tpl_set LabUser msPKI-Enrollment-Flag 41
	tpl_set LabShort pKIExpirationPeriod "$(period $DAY)" :
	tpl_set LabShort pKIOverlapPeriod "$(period 7200)" :
}
trap 'restore; rm -f "$SOCK"; kill "$sink" 2>/dev/null; rm -rf "$TEST_TMP"' EXIT
restore

# conf NAME AEPOLICY [POLICY_REFRESH]: alice's configuration, own state.
# $STORE (optional): the user's key store.
conf() {
	printf '[global]\nrpc_timeout = 10\ncrl_timeout = 5\npolicy_refresh = %s\n[user]\nstate_dir = %s\naepolicy = %s\n%s[machine]\nkeytab = %s\n' \
		"${3:-0}" "$TEST_TMP/$1" "$2" "${STORE:+store = $STORE
}" "$AE_LAB_DIR/ws1.keytab" >"$TEST_TMP/$1.conf"
}
pulse() { # NAME [OFFSET]: alice's pulse; JSON in $TEST_TMP/r.json
	as_user alice env AUTOENROLL_LIBEXECDIR="$AE_BIN" AE_JOURNAL_SOCKET="$SOCK" AE_TEST_NOW_OFFSET="${2:-0}" \
		"$AUTOENROLL" pulse --user --wait --json -c "$TEST_TMP/$1.conf" >"$TEST_TMP/r.json" 2>"$TEST_TMP/r.err"
}
enroll() { # NAME TEMPLATE: by hand, as alice
	as_user alice env AUTOENROLL_LIBEXECDIR="$AE_BIN" "$AUTOENROLL" enroll --template "$2" -c "$TEST_TMP/$1.conf" >/dev/null 2>&1
}
ev() { jq -r --arg e "$1" --arg t "${2:-}" '[.events[] | select(.event==$e and ($t=="" or .template==$t))] | length' "$TEST_TMP/r.json"; }
records() { "$AUTOENROLL" status --user --json -c "$TEST_TMP/$1.conf" 2>/dev/null; }
nrec() { records "$1" | jq -r --arg t "$2" --arg s "$3" '[.records[] | select(.template==$t and .state==$s)] | length'; }
rec_field() { records "$1" | jq -r --arg t "$2" --arg f "$3" '[.records[] | select(.template==$t and .state=="issued")][0][$f]'; }
state_of() { records "$1" | jq -r --arg i "$2" '.records[] | select(.id==$i) | .state'; }
# due_offset NAME TEMPLATE DELTA: the AE_TEST_NOW_OFFSET that puts "now"
# DELTA seconds after the renewal of the current certificate is due.
due_offset() {
	local due
	due=$(records "$1" | jq -r --arg t "$2" '[.records[] | select(.template==$t and .state=="issued")][0].certificate.renewal_due')
	echo $(($(date -d "$due" +%s) - $(date +%s) + $3))
}
mark() { cat "$CALOG" 2>/dev/null | wc -l; }
ca_since() { # SINCE TEMPLATE [request_type] -> count
	tail -n +$(($1 + 1)) "$CALOG" | jq -s --arg t "$2" --arg k "${3:-}" '[.[] | select(.template==$t and ($k=="" or .request_type==$k))] | length'
}
show() { diag "$(jq -c '[.events[] | {event, template, message}]' "$TEST_TMP/r.json" 2>/dev/null | head -c 3000)" "$(head -c 1500 "$TEST_TMP/r.err")"; }

# ===== Manage without Enroll renews what was enrolled by hand =====
conf g "manage, retrieve-pending" 600
a0=$(mark)
enroll g LabUser
first=$(rec_field g LabUser id)
[ -n "$first" ] && [ "$first" != null ]; ok $? "LabUser enrolled by hand (autoenroll enroll)"
tail -n +$((a0 + 1)) "$CALOG" | jq -e --arg h "$AE_LAB_WS_FQDN" 'select(.template=="LabUser") | .attributes.rmd == $h' >/dev/null
ok $? "a user's request carries rmd = the workstation's dNSHostName ($AE_LAB_WS_FQDN), not the short host name"
a1=$(mark)
pulse g "$(due_offset g LabUser -120)"
[ "$(ev renewed)" = 0 ] && [ "$(ev enrolled)" = 0 ] && [ "$(tail -n +$((a1 + 1)) "$CALOG" | jq -s length)" = 0 ]
ok $? "aepolicy \"manage, retrieve-pending\" (6), not due yet: nothing requested, Enroll off enrolls nothing" || show
pulse g "$(due_offset g LabUser 120)"
jq -e '.nothing_to_do | not' "$TEST_TMP/r.json" >/dev/null && [ "$(ev renewed LabUser)" = 1 ] &&
	[ "$(ca_since "$a1" LabUser renewal)" = 1 ] && [ "$(state_of g "$first")" = archived ]
ok $? "due 2 minutes later (policy cached): the cheap check sees it, Manage renews it (a renewal), the old one archived" || show
[ "$(ev enrolled)" = 0 ]; ok $? "... and still nothing new is enrolled"

# ===== an expired certificate enrolled by hand: a new request =====
# (expired by the real clock: the CA's new certificate must be valid.)
tpl_set LabShort pKIExpirationPeriod "$(period 6)" :
tpl_set LabShort pKIOverlapPeriod "$(period 1)" :
enroll g LabShort
cur=$(rec_field g LabShort id)
restore
sleep 7
a1=$(mark)
pulse g
[ -n "$cur" ] && [ "$(ev enrolled LabShort)" = 1 ] && [ "$(ev renewed)" = 0 ] && [ "$(ca_since "$a1" LabShort)" = 1 ] &&
	[ "$(ca_since "$a1" LabShort renewal)" = 0 ] && [ "$(state_of g "$cur")" = archived ]
ok $? "expired, Manage: a new request (not a renewal), the expired certificate archived" || show

# ===== CT_FLAG_SKIP_AUTO_RENEWAL =====
tpl_set LabUser msPKI-Enrollment-Flag $((0x29 | 0x40000))
conf k "manage, retrieve-pending" 600
enroll k LabUser
a1=$(mark)
pulse k "$(due_offset k LabUser -120)"
pulse k "$(due_offset k LabUser 120)"
jq -e '.nothing_to_do' "$TEST_TMP/r.json" >/dev/null
ok $? "... due, policy cached: the cheap check has nothing to do" || show
pulse k "$(due_offset k LabUser $((2 * DAY)))"
[ "$(ev renewed)" = 0 ] && [ "$(ca_since "$a1" LabUser)" = 0 ] &&
	jq -e '.events[] | select(.event=="skipped" and .template=="LabUser") | .message | test("SKIP_AUTO_RENEWAL")' "$TEST_TMP/r.json" >/dev/null
ok $? "... due, full pulse: not renewed, and the skipped event says why" || show
jq -s -e 'map(select(.AUTOENROLL_EVENT=="skipped" and .AUTOENROLL_TEMPLATE=="LabUser" and (.MESSAGE|test("SKIP_AUTO_RENEWAL")))) | length >= 1' "$EVENTS" >/dev/null
ok $? "... in the journal too"
restore

# ===== CT_FLAG_REQUIRE_SAME_KEY_RENEWAL: the renewal keeps the key =====
pubkey() { openssl x509 -in "$TEST_TMP/$1/certs/$2.pem" -noout -pubkey 2>/dev/null; }
same_key() { # NAME WHAT
	local old new
	enroll "$1" LabSameKey
	old=$(rec_field "$1" LabSameKey id)
	a1=$(mark)
	pulse "$1" "$(due_offset "$1" LabSameKey 60)"
	new=$(rec_field "$1" LabSameKey id)
	[ -n "$old" ] && [ "$old" != null ] && [ "$(ev renewed LabSameKey)" = 1 ] && [ "$(ev denied)" = 0 ] &&
		[ "$(ca_since "$a1" LabSameKey renewal)" = 1 ] && [ "$new" != "$old" ] && [ "$(state_of "$1" "$old")" = archived ] &&
		[ -n "$(pubkey "$1" "$old")" ] && [ "$(pubkey "$1" "$old")" = "$(pubkey "$1" "$new")" ]
	ok $? "LabSameKey ($2): renewed by Manage with the current key, the CA issues the renewal" || show
}
conf sf "manage, retrieve-pending"
same_key sf "file store"
if [ -e /usr/lib/softhsm/libsofthsm2.so ]; then
	softhsm_token ae-manage
	STORE="pkcs11:token=ae-manage;module-path=$MODULE?pin-source=$TEST_TMP/pin" conf st "manage, retrieve-pending"
	same_key st "key on a SoftHSM2 token"
else
	ok 0 "# SKIP no SoftHSM2"
fi

# ===== RetrievePending off, on again; the cheap pulse while pending =====
conf q 7 600
pulse q
rid=$(records q | jq -r '.records[] | select(.template=="LabPending" and .state=="pending") | .request_id' | head -1)
[ -n "$rid" ] && [ "$(ev pending LabPending)" = 1 ]; ok $? "LabPending is pending" || show
pulse q
jq -e '.nothing_to_do and .ldap_round_trips==0 and .rpc_round_trips==0' "$TEST_TMP/r.json" >/dev/null &&
	[ "$(ev pending LabPending)" = 1 ] && jq -e '.events[] | select(.event=="pending") | .request_id' "$TEST_TMP/r.json" >/dev/null
ok $? "RetrievePending on, policy cached: the second pulse is cheap (no LDAP, no RPC) and reports the pending request" || show
conf q 3 600
pulse q
pulse q
jq -e '.nothing_to_do and .ldap_round_trips==0 and .rpc_round_trips==0' "$TEST_TMP/r.json" >/dev/null &&
	[ "$(ev pending LabPending)" = 0 ]
ok $? "RetrievePending off, request pending: a cheap pulse that does not mention it" || show
"$LABCTL" approve "$rid" >/dev/null 2>&1
conf q 3
a1=$(mark)
pulse q
[ "$(ev retrieved)" = 0 ] && [ "$(nrec q LabPending pending)" = 1 ] && [ "$(ca_since "$a1" LabPending)" = 0 ]
ok $? "RetrievePending off, full pulse: the approved request is not retrieved, and nothing new is asked for it" || show
conf q "Enroll, Manage, Retrieve-Pending"
pulse q
[ "$(ev retrieved LabPending)" = 1 ] && [ "$(nrec q LabPending issued)" = 1 ]
ok $? "aepolicy \"Enroll, Manage, Retrieve-Pending\" (7): retrieved" || show
conf q "manage disabled"
pulse q
# Under Group Policy (group_policy = yes, the default) the pulse starts and
# reads the GPOs, which may enable what the file disables; none does here.
[ "$(ev disabled)" = 1 ] &&
	[ "$(jq '[.events[] | select(.event != "pulse-started" and .event != "disabled")] | length' "$TEST_TMP/r.json")" = 0 ]
ok $? "aepolicy \"manage disabled\": nothing done" || show
conf q "enroll, renew"
pulse q
grep -q 'not "renew"' "$TEST_TMP/r.err" && ! grep -q pulse-started "$TEST_TMP/r.json"
ok $? "an unknown aepolicy word: refused, with the words it takes" || diag "$(head -c 600 "$TEST_TMP/r.err")"

done_testing
