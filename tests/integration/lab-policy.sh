#!/bin/bash
# lab-policy.sh - autoenroll policy against the lab AD for alice, bob and
# the machine: every lab template's decision and reason, the CAs, and DC
# discovery through DNS SRV.
. "$(dirname "$0")/lib.sh"
lab_require

as_user alice "$AUTOENROLL" policy --json >"$TEST_TMP/alice.json" 2>"$TEST_TMP/alice.err"
ok $? "policy --json for alice succeeds"
as_user bob "$AUTOENROLL" policy --json >"$TEST_TMP/bob.json" 2>"$TEST_TMP/bob.err"
ok $? "policy --json for bob succeeds"
as_machine "$AUTOENROLL" policy --machine --json >"$TEST_TMP/machine.json" 2>"$TEST_TMP/machine.err"
ok $? "policy --machine --json succeeds"

# decision FILE TEMPLATE DECISION REASON-SUBSTRING
check() {
	local file=$1 tpl=$2 want=$3 reason=$4 got
	got=$(jq -r --arg t "$tpl" '.templates[] | select(.name==$t) | "\(.decision)\t\(.reason)"' "$file")
	[ "${got%%	*}" = "$want" ] && [[ "${got#*	}" == *"$reason"* ]]
	ok $? "$(basename "$file" .json): $tpl is $want ($reason)"
	[[ "$got" == "$want"*"$reason"* ]] || diag "got: $got"
}

A=$TEST_TMP/alice.json B=$TEST_TMP/bob.json M=$TEST_TMP/machine.json

# Policy server and caller
[ "$(jq -r .policy_server.url "$A")" = "LDAP:" ]; ok $? "policy server is LDAP:"
[ "$(jq -r .policy_server.dc "$A")" = "dc1.corp.test" ]; ok $? "DC found through DNS SRV (no server in the config)"
[ "$(jq -r '.policy_server.ldap_ssf >= 56' "$A")" = true ]; ok $? "LDAP session is sealed (SSF >= 56)"
jq -r .policy_server.policy_id "$A" | grep -Eq '^\{[0-9A-F-]{36}\}$'; ok $? "policy id is the forest GUID in braces"
[ "$(jq -r .caller.account "$A")" = 'CORP\alice' ]; ok $? "caller is CORP\\alice"
[ "$(jq -r .caller.account "$M")" = 'CORP\WS1$' ]; ok $? "machine caller is CORP\\WS1\$"
[ "$(jq -r .context "$M")" = machine ]; ok $? "machine context"
jq -e '.caller.token_sids | index("S-1-5-11") != null' "$A" >/dev/null; ok $? "token has Authenticated Users"
jq -e --arg s "$(jq -r .caller.sid "$M" | sed 's/-[0-9]*$/-515/')" '.caller.token_sids | index($s) != null' "$M" >/dev/null
ok $? "machine token has Domain Computers (-515)"
jq -e --arg s "$(jq -r .caller.sid "$A" | sed 's/-[0-9]*$/-513/')" '.caller.token_sids | index($s) != null' "$A" >/dev/null
ok $? "alice's token has Domain Users (-513)"

# CAs: the lab CA validates to the lab root; the rogue one does not.
[ "$(jq -r '.cas[] | select(.name=="CORP-CA1") | .valid' "$A")" = true ]; ok $? "CORP-CA1 is valid (chains to the root in AD)"
[ "$(jq -r '.cas[] | select(.name=="CORP-CA1") | .host' "$A")" = ca1.corp.test ]; ok $? "CORP-CA1 host"
[ "$(jq -r '.cas[] | select(.name=="CORP-CA1") | "\(.transport) \(.url)"' "$A")" = "MS-ICPR null" ]; ok $? "CORP-CA1 is reached over MS-ICPR (no URL)"
jq -r '.cas[] | select(.name=="CORP-ROGUE") | .invalid_reason' "$A" | grep -q "does not validate"
ok $? "CORP-ROGUE is invalid with a reason"
[ "$(jq '[.templates[] | select(.schema_version != null)] | length' "$A")" -ge 51 ]; ok $? "33 defaults and the lab templates are listed"

# Enterprise OIDs (CN=OID)
. <("$LABCTL" env)
[ "$(jq -r .forest_oid "$A")" = "$AE_LAB_FOREST_OID_ROOT" ]; ok $? "forest OID root read from CN=OID"
oid=$(jq -r '.templates[] | select(.name=="LabUser") | .oid' "$A")
[ "$(jq -r --arg o "$oid" '.oids[] | select(.oid==$o) | .kind' "$A")" = template ]
ok $? "LabUser's OID is registered as a template OID"

# alice (Domain Users)
check "$A" LabUser autoenroll "set up for autoenrollment, from CORP-CA1"
check "$A" LabECDSA autoenroll "set up"
check "$A" LabDenied autoenroll "set up"
check "$A" LabNew autoenroll "set up"
check "$A" LabOld skip "superseded by LabNew"
check "$A" LabPending autoenroll "CA manager's approval"
check "$A" LabInteractive autoenroll "asks the user first"
check "$A" LabSubject manual-renew-only "enrollee supplies the subject"
check "$A" LabRA manual-renew-only "requires an RA signature"
check "$A" LabRA2 skip "requires 2 RA signatures"
check "$A" LabArchive skip "private key archival"
check "$A" LabV1 skip "schema version 1"
check "$A" LabUnpublished skip "not published by any CA"
check "$A" LabRogueOnly skip "published only by CA CORP-ROGUE, which is not usable"
check "$A" LabPlus skip 'no Enroll right for CORP\alice'
check "$A" LabMachine skip "machine template"
check "$A" User skip 'no AutoEnroll right for CORP\alice'
check "$A" Administrator skip 'no Enroll right for CORP\alice'
[ "$(jq -r '.templates[] | select(.name=="User") | "\(.enroll) \(.autoenroll)"' "$A")" = "true false" ]
ok $? "alice: User template grants Enroll, not AutoEnroll"
[ "$(jq -r '.templates[] | select(.name=="LabECDSA") | .key_algorithm' "$A")" = ECDSA_P256 ]
ok $? "LabECDSA asks for ECDSA_P256"

# bob (CertPlus, CertDenied)
check "$B" LabPlus autoenroll "set up"
check "$B" LabDenied skip 'Enroll denied to CORP\bob by a deny entry for CORP\CertDenied'
check "$B" LabUser autoenroll "set up"

# machine (Domain Computers)
check "$M" LabMachine autoenroll "set up for autoenrollment, from CORP-CA1"
check "$M" LabMachineInteractive skip "machine template requires user interaction"
check "$M" LabUser skip "user template"
check "$M" Machine skip 'no AutoEnroll right for CORP\WS1$'
check "$M" Workstation skip 'no AutoEnroll right'
[ "$(jq -r .summary.autoenroll "$M")" = 1 ]; ok $? "the machine autoenrolls exactly one template"

# The policy read on a cache miss: at most 5 LDAP round trips (the
# GSS-SPNEGO bind, the rootDSE, the configuration NC, the account, its
# tokenGroups), every bind step and page counted, and still complete:
# counted against an independent client (ldapsearch).
for f in "$A" "$B" "$M"; do
	n=$(jq -r .summary.ldap_round_trips "$f")
	[ "$n" -le 5 ]; ok $? "$(basename "$f" .json): policy read in at most 5 LDAP round trips (got $n)"
done
PKS="CN=Public Key Services,CN=Services,$AE_LAB_CONFIG_NC"
lsearch() { # lsearch BASE SCOPE FILTER ATTR: how many values of ATTR
	as_user alice ldapsearch -N -Q -Y GSSAPI -H ldap://dc1.corp.test -o ldif-wrap=no -b "$1" -s "$2" "$3" "$4" 2>/dev/null |
		grep -c "^$4:"
}
want="$(lsearch "CN=Certificate Templates,$PKS" one '(objectClass=pKICertificateTemplate)' cn) templates,"
want="$want $(lsearch "CN=Enrollment Services,$PKS" one '(objectClass=pKIEnrollmentService)' cn) enrollment services,"
want="$want $(lsearch "CN=Certification Authorities,$PKS" one '(objectClass=certificationAuthority)' cACertificate) roots,"
want="$want $(lsearch "CN=AIA,$PKS" one '(objectClass=certificationAuthority)' cACertificate) AIA,"
want="$want $(lsearch "CN=NTAuthCertificates,$PKS" base '(objectClass=*)' cACertificate) NTAuth,"
want="$want $(($(lsearch "CN=OID,$PKS" sub '(objectClass=*)' msPKI-Cert-Template-OID) - 1)) OIDs"
for who in alice machine; do
	if [ $who = alice ]; then
		as_user alice "$AUTOENROLL" -vv policy --json >"$TEST_TMP/vv.json" 2>"$TEST_TMP/vv.err"
	else
		as_machine "$AUTOENROLL" -vv policy --machine --json >"$TEST_TMP/vv.json" 2>"$TEST_TMP/vv.err"
	fi
	got=$(sed -n 's/.*policy read from .* in \([0-9]*\) LDAP round trips (SASL\/GSS-SPNEGO): //p' "$TEST_TMP/vv.err")
	[ "$got" = "$want" ]; ok $? "$who: the one search found everything: $want"
	[ "$got" = "$want" ] || diag "got: $got"
	grep -Eq "LDAP round trip 1: SASL/GSS-SPNEGO bind, step 1" "$TEST_TMP/vv.err" &&
		[ "$(sed '/policy read from/q' "$TEST_TMP/vv.err" | grep -c "LDAP round trip [0-9]*:")" = \
			"$(jq .summary.ldap_round_trips "$TEST_TMP/vv.json")" ]
	ok $? "$who: each round trip of the policy logged (Group Policy's after it), the first the one bind step"
done
! [[ " $want" =~ \ 0\  ]]; ok $? "the lab publishes templates, CAs, roots, AIA, NTAuth and OIDs ($want)"

# Same policy however it is read: in pages of 10 entries (every page a
# round trip), and bound with GSSAPI when GSS-SPNEGO is not there (three
# round trips for the bind: RFC 4752's security layer negotiation).
same() { diff <(jq -S 'del(.summary.ldap_round_trips)' "$1") <(jq -S 'del(.summary.ldap_round_trips)' "$2") >/dev/null; }
AE_TEST_LDAP_PAGE_SIZE=10 as_user alice "$AUTOENROLL" policy --json >"$TEST_TMP/paged.json" 2>/dev/null
same "$A" "$TEST_TMP/paged.json"; ok $? "paged by 10: the same policy"
[ "$(jq .summary.ldap_round_trips "$TEST_TMP/paged.json")" -ge 14 ]
ok $? "paged by 10: each page is a round trip ($(jq .summary.ldap_round_trips "$TEST_TMP/paged.json"))"
AE_TEST_LDAP_SASL_MECH=NO-SUCH-MECH as_user alice "$AUTOENROLL" policy --json >"$TEST_TMP/gssapi.json" 2>/dev/null
same "$A" "$TEST_TMP/gssapi.json"; ok $? "GSSAPI bind: the same policy, sealed too"
[ "$(jq .summary.ldap_round_trips "$TEST_TMP/gssapi.json")" = 7 ]
ok $? "GSSAPI bind: three round trips of its own (7 in all)"

# The table
as_user alice "$AUTOENROLL" policy >"$TEST_TMP/alice.txt" 2>/dev/null
ok $? "table output succeeds"
grep -q "^Enrollment policy for CORP.alice (alice@CORP.TEST), user context" "$TEST_TMP/alice.txt"; ok $? "table header"
grep -Eq "^  LabUser +2 +100\.0 +yes +yes +autoenroll" "$TEST_TMP/alice.txt"; ok $? "table row for LabUser"
grep -q "set up for autoenrollment, .* manual enrollment with automatic renewal, .* skipped" "$TEST_TMP/alice.txt"; ok $? "summary line"

# Memory: no invalid access and no leak on the real policy (libtool wrapper
# aside, the binary itself is what runs).
if command -v valgrind >/dev/null; then
	as_user bob valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=9 \
		"$AUTOENROLL" policy --json >/dev/null 2>"$TEST_TMP/vg"
	rc=$?
	[ $rc -eq 0 ] && grep -qE "definitely lost: 0 bytes|All heap blocks were freed" "$TEST_TMP/vg"
	ok $? "valgrind: no memory errors, nothing definitely lost"
	[ $rc -eq 0 ] || diag "$(grep -E '==[0-9]+== ' "$TEST_TMP/vg" | tail -20)"
fi

done_testing
