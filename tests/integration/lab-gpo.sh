#!/bin/bash
# lab-gpo.sh - which Group Policy Objects apply (autoenroll gpo), against
# the lab DC, each case asserting the Windows outcome (MS-GPOL 3.2.5.1):
# links on the domain and on the OUs of the users and of the workstation
# made with samba-tool gpo setlink / setinheritance; an enforced link over
# blocked inheritance; a disabled link; a GPO whose user half is disabled;
# security filtering (Apply Group Policy denied to a group alice is in,
# samba-tool dsacl); the machine's Group Policy step in 3 LDAP round trips.
#
# The GPOs are made with samba-tool gpo create (the container in LDAP and
# the folder in SYSVOL, over SMB); what GPMC does when an admin edits one
# (versionNumber raised, the user half disabled) is an LDAP modify as
# Administrator.  Every GPO, link, group and flag is removed at the end
# (trap).
. "$(dirname "$0")/lib.sh"
lab_require
. <("$LABCTL" env)
DOM=$AE_LAB_DOMAIN_DN
[ -n "$DOM" ] || DOM=DC=corp,DC=test
POL="CN=Policies,CN=System,$DOM"
STAFF="OU=Staff,$DOM"
WKS="OU=Workstations,$DOM"
APPLY=edacfd8f-ffb3-11d1-b41d-00a0c968f939

ldapmod() { "$LABCTL" run --admin -- ldapmodify -Q -c -Y GSSAPI -H ldap://dc1.corp.test >/dev/null 2>&1; }
st() { # samba-tool as Administrator
	"$LABCTL" run --admin -- sh -c 'samba-tool "$@" -H ldap://dc1.corp.test --use-krb5-ccache="$KRB5CCNAME"' \
		samba-tool "$@"
}
# gpo_add VAR NAME FLAGS: samba-tool gpo create, then versionNumber 1/1
# (edited once in each half) and FLAGS; the new GPO's GUID in VAR.
gpo_add() {
	local out guid
	out=$(st gpo create "$2" 2>&1)
	guid=$(printf '%s\n' "$out" | sed -n 's/.* created as \({[0-9A-Fa-f-]*}\).*/\1/p')
	[ -n "$guid" ] || { diag "samba-tool gpo create \"$2\": $out"; return 1; }
	printf -v "$1" '%s' "$guid"
	ALL="$ALL $guid"
	printf 'dn: CN=%s,%s\nchangetype: modify\nreplace: versionNumber\nversionNumber: 65537\n-\nreplace: flags\nflags: %s\n-\n\n' \
		"$guid" "$POL" "$3" | ldapmod
}
ALL=

# The gPLink and gPOptions of the three containers as they were.
saved() { "$LABCTL" run --admin -- ldapsearch -LLL -o ldif-wrap=no -Q -Y GSSAPI -H ldap://dc1.corp.test \
	-s base -b "$1" gPLink gPOptions 2>/dev/null | grep -E '^gP(Link|Options)'; }
for c in "$DOM" "$STAFF" "$WKS"; do saved "$c" >"$TEST_TMP/saved.$(echo "$c" | md5sum | cut -c1-8)"; done
restore() {
	for c in "$DOM" "$STAFF" "$WKS"; do
		f=$TEST_TMP/saved.$(echo "$c" | md5sum | cut -c1-8)
		{
			printf 'dn: %s\nchangetype: modify\n' "$c"
			for a in gPLink gPOptions; do
				if grep -q "^$a" "$f"; then
					printf 'replace: %s\n%s\n-\n' "$a" "$(grep "^$a" "$f")"
				else
					printf 'replace: %s\n-\n' "$a"
				fi
			done
			echo
		} | ldapmod
	done
	for g in $ALL; do
		st gpo del "$g" >/dev/null 2>&1
	done
	st group delete AEGpoDeny >/dev/null 2>&1
}
trap 'restore; rm -rf "$TEST_TMP"' EXIT

{
	gpo_add G_DOM "AE Domain" 0 &&
	gpo_add G_ENF "AE Enforced" 0 &&
	gpo_add G_STAFF "AE Staff" 0 &&
	gpo_add G_USEROFF "AE Staff users off" 1 &&
	gpo_add G_FILTER "AE Staff filtered" 0 &&
	gpo_add G_OFF "AE Staff link off" 0 &&
	st gpo setlink "$DOM" "$G_DOM" &&
	st gpo setlink "$DOM" "$G_ENF" --enforce &&
	st gpo setlink "$STAFF" "$G_STAFF" &&
	st gpo setlink "$STAFF" "$G_USEROFF" &&
	st gpo setlink "$STAFF" "$G_FILTER" &&
	st gpo setlink "$STAFF" "$G_OFF" --disable &&
	st gpo setlink "$WKS" "$G_USEROFF" &&
	st gpo setinheritance "$WKS" block &&
	st group add AEGpoDeny &&
	st group addmembers AEGpoDeny alice &&
	sid=$("$LABCTL" run --admin -- ldapsearch -LLL -o ldif-wrap=no -Q -Y GSSAPI -H ldap://dc1.corp.test \
		-b "$DOM" '(sAMAccountName=AEGpoDeny)' objectSid | sed -n 's/^objectSid:: //p' |
		/usr/bin/python3 -c 'import sys,base64;from samba.dcerpc import security;from samba.ndr import ndr_unpack;print(ndr_unpack(security.dom_sid,base64.b64decode(sys.stdin.read())))') &&
	st dsacl set --objectdn="CN=$G_FILTER,$POL" --sddl="(OD;;CR;$APPLY;;$sid)"
} >"$TEST_TMP/setup.log" 2>&1
ok $? "GPOs made and linked with samba-tool (domain, enforced, OUs, a disabled link, blocked inheritance, a deny)" ||
	diag "$(tail -20 "$TEST_TMP/setup.log")"

# --- alice (OU=Staff) ---
as_user alice "$AUTOENROLL" gpo --json >"$TEST_TMP/alice.json" 2>"$TEST_TMP/err"
ok $? "autoenroll gpo as alice" || diag "$(cat "$TEST_TMP/err")"
st_of() { jq -r --arg g "$2" '.gpos[] | select(.guid == $g) | .status' "$1"; }
why_of() { jq -r --arg g "$2" '.gpos[] | select(.guid == $g) | .reason' "$1"; }
ord_of() { jq -r --arg g "$2" '.gpos[] | select(.guid == $g) | .order' "$1"; }
[ "$(st_of "$TEST_TMP/alice.json" "$G_DOM")" = applied ] && [ "$(st_of "$TEST_TMP/alice.json" "$G_STAFF")" = applied ] &&
	[ "$(ord_of "$TEST_TMP/alice.json" "$G_DOM")" -lt "$(ord_of "$TEST_TMP/alice.json" "$G_STAFF")" ]
ok $? "alice: the domain's GPO and her OU's apply, the OU's after (it wins)" || diag "$(jq -c '.gpos[] | [.name,.status,.order]' "$TEST_TMP/alice.json")"
last=$(jq -r '[.gpos[] | select(.applied)] | last | .guid' "$TEST_TMP/alice.json")
[ "$last" = "$G_ENF" ] && [ "$(jq -r --arg g "$G_ENF" '.gpos[] | select(.guid == $g) | .enforced' "$TEST_TMP/alice.json")" = true ]
ok $? "alice: the enforced domain link applies last, over her OU's" || diag "last applied: $last"
[ "$(st_of "$TEST_TMP/alice.json" "$G_USEROFF")" = disabled ] &&
	why_of "$TEST_TMP/alice.json" "$G_USEROFF" | grep -q 'user settings are disabled'
ok $? "alice: a GPO whose user half is disabled does not apply to her"
[ "$(st_of "$TEST_TMP/alice.json" "$G_FILTER")" = "filtered by security" ] &&
	why_of "$TEST_TMP/alice.json" "$G_FILTER" | grep -q 'denied to CORP\\alice by a deny entry for CORP\\AEGpoDeny'
ok $? "alice: Apply Group Policy denied to a group she is in: filtered, the group named" ||
	diag "$(why_of "$TEST_TMP/alice.json" "$G_FILTER")"
[ "$(st_of "$TEST_TMP/alice.json" "$G_OFF")" = "link disabled" ] && [ "$(ord_of "$TEST_TMP/alice.json" "$G_OFF")" = null ]
ok $? "alice: a disabled link is considered, not applied"
[ "$(jq -r .wmi_filters_evaluated "$TEST_TMP/alice.json")" = false ]
ok $? "--json says WMI filters are not evaluated"

# --- bob: the same OU, not in the denied group ---
as_user bob "$AUTOENROLL" gpo --json >"$TEST_TMP/bob.json" 2>/dev/null
[ "$(st_of "$TEST_TMP/bob.json" "$G_FILTER")" = applied ]
ok $? "bob (same OU, not in the group): the filtered GPO applies to him"

# --- the machine (OU=Workstations, blocked inheritance) ---
as_machine "$AUTOENROLL" gpo --machine --json >"$TEST_TMP/ws.json" 2>"$TEST_TMP/err"
ok $? "autoenroll gpo --machine" || diag "$(cat "$TEST_TMP/err")"
[ "$(st_of "$TEST_TMP/ws.json" "$G_DOM")" = blocked ] &&
	why_of "$TEST_TMP/ws.json" "$G_DOM" | grep -q "inheritance is blocked at $WKS"
ok $? "machine: inheritance blocked at its OU: the domain's GPO does not apply"
[ "$(st_of "$TEST_TMP/ws.json" "$G_ENF")" = applied ]
ok $? "machine: the enforced domain link applies through the block"
[ "$(st_of "$TEST_TMP/ws.json" "$G_USEROFF")" = applied ]
ok $? "machine: a GPO with only its user half disabled applies to the computer"
[ "$(jq -r .round_trips "$TEST_TMP/ws.json")" -eq 3 ]
ok $? "machine: the Group Policy step takes 3 LDAP round trips" || diag "$(jq .round_trips "$TEST_TMP/ws.json")"
as_machine "$AUTOENROLL" gpo --machine >"$TEST_TMP/ws.txt" 2>&1
grep -q 'AE Enforced .* enforced *applied' "$TEST_TMP/ws.txt" && grep -q 'WMI filters are not evaluated' "$TEST_TMP/ws.txt"
ok $? "the text output: each GPO, where it is linked, applied or not and why" || diag "$(cat "$TEST_TMP/ws.txt")"

done_testing
