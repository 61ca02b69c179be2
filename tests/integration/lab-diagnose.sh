#!/bin/bash
# lab-diagnose.sh - autoenroll diagnose against the lab: a healthy lab
# passes every check (exit 0, the --json format), and each lab fault
# (labctl fault) fails the check that names it, with the fix: the
# machine's keytab older than its account (adcli update), a keytab with
# only AES against an account without AES, the clock skewed beyond the
# Kerberos limit (the offset), the caller out of Certificate Service DCOM
# Access (the group and the member to add; a pulse then fails with
# E_ACCESSDENIED and event 13), the CA's SPN missing or registered twice,
# the CA stopped (the address and the timeout setting).
. "$(dirname "$0")/lib.sh"
lab_require
. <("$LABCTL" env)

journal_sink
cleanup_all() { "$LABCTL" fault clear >/dev/null 2>&1; rm -f "$SOCK"; kill "$sink" 2>/dev/null; rm -rf "$TEST_TMP"; }
trap cleanup_all EXIT
"$LABCTL" fault clear >/dev/null

cat >"$TEST_TMP/d.conf" <<CONF
[global]
rpc_timeout = 3
crl_timeout = 5
policy_refresh = 0
[user]
state_dir = $TEST_TMP/user
[machine]
keytab = $AE_LAB_DIR/ws1.keytab
state_dir = $TEST_TMP/machine
CONF

diagnose() { # diagnose machine|user [ARGS]: the report in $TEST_TMP/d.json, exit status in $rc
	local who=$1
	shift
	if [ "$who" = machine ]; then
		as_machine "$AUTOENROLL" diagnose --machine --json -c "$TEST_TMP/d.conf" "$@" >"$TEST_TMP/d.json" 2>"$TEST_TMP/d.err"
	else
		as_user alice "$AUTOENROLL" diagnose --json -c "$TEST_TMP/d.conf" "$@" >"$TEST_TMP/d.json" 2>"$TEST_TMP/d.err"
	fi
	rc=$?
}
check() { jq -c --arg id "$1" '.checks[] | select(.id==$id)' "$TEST_TMP/d.json"; }
status_of() { check "$1" | jq -r .status; }
show() { diag "exit $rc" "$(jq -c '[.checks[] | select(.status=="fail" or .status=="warn") | {id, cause}]' "$TEST_TMP/d.json" 2>/dev/null | head -c 3000)" "$(head -c 1000 "$TEST_TMP/d.err")"; }
# fails ID JQ-TEST DESCRIPTION: exit 1, check ID failed, and JQ-TEST holds on it
fails() {
	[ $rc -eq 1 ] && [ "$(status_of "$1")" = fail ] && check "$1" | jq -e "$2" >/dev/null
	ok $? "$3" || show
}

# --- a healthy lab ---
start=$(date +%s.%N)
diagnose machine
t=$(echo "$(date +%s.%N) - $start" | bc)
[ $rc -eq 0 ] && jq -e '.format_version == 1 and .ok and .context == "machine" and .summary.fail == 0 and .summary.warn == 0 and (.checks | length) >= 25' "$TEST_TMP/d.json" >/dev/null
ok $? "healthy lab, machine: every check passes or is skipped with a reason, exit 0 (${t}s)" || show
jq -e '[.checks[] | (has("id") and has("title") and has("status") and has("cause") and has("fix") and has("command") and (.details | type == "object") and (.cause | length > 0))] | all' "$TEST_TMP/d.json" >/dev/null
ok $? "--json: each check has id, title, status, cause, fix, command, details" || show
jq -e '[.checks[] | select(.status == "skip") | .cause | length > 0] | all' "$TEST_TMP/d.json" >/dev/null &&
	[ "$(status_of group-policy)" = pass ] && [ "$(status_of ca.CORP-CA1.access)" = pass ] &&
	[ "$(status_of machine.keys)" = pass ] && [ "$(status_of template.LabMachine)" = pass ]
ok $? "skips say why; Group Policy is read (no GPO sets autoenrollment here); the CA's access probe, the keytab against AD and LabMachine pass" || show
[ "$(check ldap.bind | jq -r '.details.ssf')" -ge 56 ]
ok $? "the LDAP bind is sealed, its SSF reported" || show

diagnose user
[ $rc -eq 0 ] && jq -e '.ok and .context == "user" and (.checks[] | select(.id=="user.tgt") | .status == "pass" and .details.cache_type == "FILE")' "$TEST_TMP/d.json" >/dev/null
ok $? "healthy lab, user alice: exit 0, her ticket and its cache type" || show

# --- the machine account's password reset in AD: the keytab is stale ---
"$LABCTL" fault keytab-stale >/dev/null
diagnose machine
fails machine.keytab '.command | test("^adcli update")' "keytab-stale: the keytab check fails with adcli update as the fix"
n0=$(wc -l <"$EVENTS")
as_machine env AUTOENROLL_LIBEXECDIR="$AE_BIN" AE_JOURNAL_SOCKET="$SOCK" \
	"$AUTOENROLL" pulse --machine --wait --json --refresh -c "$TEST_TMP/d.conf" >"$TEST_TMP/p.json" 2>"$TEST_TMP/p.err"
prc=$?
sleep 0.3
tail -n +"$((n0 + 1))" "$EVENTS" | jq -s -e '
	def ev(id): map(select(.WINDOWS_EVENT_ID == id and (.MESSAGE | test("autoenroll diagnose")) and (.AUTOENROLL_HRESULT | ascii_downcase | test("80070520")))) | length == 1;
	ev("68") and ev("70") and ev("6") and (map(select(.WINDOWS_EVENT_ID == "68"))[0].AUTOENROLL_POLICY_SERVER == "LDAP:")' >/dev/null &&
	[ $prc -ne 0 ] && grep -q "autoenroll diagnose" "$TEST_TMP/p.json" "$TEST_TMP/p.err"
ok $? "keytab-stale: a pulse logs 68 and 70 (policy server, 0x80070520) and 6, each pointing to diagnose (exit $prc)" ||
	diag "$(tail -n +"$((n0 + 1))" "$EVENTS" | jq -c '{WINDOWS_EVENT_ID, AUTOENROLL_HRESULT, AUTOENROLL_POLICY_SERVER, MESSAGE}' | head -10)" "$(cat "$TEST_TMP/p.err" | head -5)"
"$LABCTL" fault clear >/dev/null

# --- no AES on the account, only AES in the keytab ---
"$LABCTL" fault no-aes >/dev/null
diagnose machine
fails machine.keys '(.cause | test("msDS-SupportedEncryptionTypes") and test("only AES")) and .details.ad_supported_enctypes != null' \
	"no-aes: the encryption-type mismatch is named"
"$LABCTL" fault clear >/dev/null

# --- the clocks 15 minutes apart ---
"$LABCTL" fault skew 900 >/dev/null
diagnose machine
fails time.offset '((.details.offset_seconds | tonumber) - 900 | fabs) <= 5 and (.cause | test("900 s"))' \
	"skew 900: the time check fails with the offset"
"$LABCTL" fault skew 120 >/dev/null
diagnose machine
[ "$(status_of time.offset)" = warn ]
ok $? "skew 120: the time check warns well before the 300 s limit" || show
"$LABCTL" fault clear >/dev/null

# --- the caller out of BUILTIN\Certificate Service DCOM Access ---
"$LABCTL" fault dcom-access >/dev/null
diagnose machine
fails ca.CORP-CA1.dcom-access '(.cause | test("Certificate Service DCOM Access")) and (.fix | test("Authenticated Users"))' \
	"dcom-access: diagnose names the group and the member to add"
fails ca.CORP-CA1.access '.cause | test("E_ACCESSDENIED")' "dcom-access: the access probe gets E_ACCESSDENIED"
n0=$(wc -l <"$EVENTS")
as_machine env AUTOENROLL_LIBEXECDIR="$AE_BIN" AE_JOURNAL_SOCKET="$SOCK" \
	"$AUTOENROLL" pulse --machine --wait --json --refresh -c "$TEST_TMP/d.conf" >"$TEST_TMP/p.json" 2>"$TEST_TMP/p.err"
prc=$?
sleep 0.3
tail -n +"$((n0 + 1))" "$EVENTS" | jq -s -e 'map(select(.WINDOWS_EVENT_ID == "13" and (.AUTOENROLL_HRESULT | ascii_downcase | test("80070005")))) | length >= 1' >/dev/null
ok $? "dcom-access: the pulse fails with E_ACCESSDENIED and event 13 (exit $prc)" ||
	diag "$(tail -n +"$((n0 + 1))" "$EVENTS" | jq -c '{WINDOWS_EVENT_ID, AUTOENROLL_EVENT, AUTOENROLL_HRESULT, MESSAGE}' | head -20)"
"$LABCTL" fault clear >/dev/null

# --- the CA's SPN ---
"$LABCTL" fault spn-missing >/dev/null
diagnose machine
fails ca.CORP-CA1.spn '(.cause | test("no account has the SPN host/ca1.corp.test")) and (.command | test("setspn -S host/ca1.corp.test"))' \
	"spn-missing: named, with setspn -S"
"$LABCTL" fault clear >/dev/null
"$LABCTL" fault spn-duplicate >/dev/null
diagnose machine
fails ca.CORP-CA1.spn '(.cause | test("2 accounts")) and (.cause | test("carol")) and (.command | test("setspn -D host/ca1.corp.test carol"))' \
	"spn-duplicate: both accounts named, setspn -D for the wrong one"
"$LABCTL" fault clear >/dev/null

# --- the CA stopped ---
"$LABCTL" fault ca-stop >/dev/null
start=$(date +%s.%N)
diagnose machine
t=$(echo "$(date +%s.%N) - $start" | bc)
fails ca.CORP-CA1.endpoint-mapper '(.cause | test("127.0.0.11")) and (.cause | test("rpc_timeout in \\[global\\]"))' \
	"ca-stop: the endpoint mapper unreachable, with the address and the timeout setting (${t}s)"
[ "$(status_of ca.CORP-CA1.bind)" = skip ] && [ "$(status_of template.LabMachine)" = fail ] && [ "$(status_of ldap.bind)" = pass ]
ok $? "ca-stop: later checks still run: the bind is skipped, LabMachine has no reachable CA, the rest passes" || show
"$LABCTL" fault clear >/dev/null

diagnose machine
[ $rc -eq 0 ]
ok $? "labctl fault clear: healthy again" || show

done_testing
