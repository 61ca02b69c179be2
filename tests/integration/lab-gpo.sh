#!/bin/bash
# lab-gpo.sh - which Group Policy Objects apply (autoenroll gpo), against
# the lab DC, each case asserting the Windows outcome (MS-GPOL 3.2.5.1):
# links on the domain and on the OUs of the users and of the workstation
# made with samba-tool gpo setlink / setinheritance; an enforced link over
# blocked inheritance; a disabled link; a GPO whose user half is disabled;
# security filtering (Apply Group Policy denied to a group alice is in,
# samba-tool dsacl); the machine's Group Policy step in 3 LDAP round trips.
# Then the settings in the GPOs' Registry.pol files, written by Samba's own
# Python (samba.dcerpc.preg) into the DC's SYSVOL and read back over SMB
# with Kerberos: each setting from the GPO that wins, the user half
# disabled, security filtering, a GPO root certificate, the cache (no SMB
# when the version is unchanged), a new version read again, SYSVOL
# unreachable (the last copy), a bad size field (nothing of that file);
# PolicyServers from a GPO: autoenroll policy reads the policy from the lab
# CEP it names, and says where each option came from;
# a GPO's root in the machine's trust directory after a pulse, gone once a
# GPO lists it as Disallowed;
# pulses under Group Policy: the machine's disabled by the GPO on its OU
# (the event names it), alice's enabled by her OU's GPO over the file's
# "disabled" (LabUser enrolled; her published certificates restored), and
# group_policy = no; loopback replace (the machine publishes its
# UserPolicyMode, alice's list is the workstation OU's GPOs) and merge (her
# own list, then the computer's, which wins); AEPolicy 7
# from the domain's GPO with no aepolicy in the file: the machine enrolls;
# the host's site from the subnet objects (the longest prefix).
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
STAFF="OU=Staff,$DOM"
WKS="OU=Workstations,$DOM"
SITES="CN=Sites,CN=Configuration,$DOM"
DCSITE="CN=Default-First-Site-Name,$SITES"
APPLY=edacfd8f-ffb3-11d1-b41d-00a0c968f939

. "$(dirname "$0")/gpo-lib.sh"

# The gPLink and gPOptions of the three containers as they were.
saved() { "$LABCTL" run --admin -- ldapsearch -LLL -o ldif-wrap=no -Q -Y GSSAPI -H ldap://dc1.corp.test \
	-s base -b "$1" gPLink gPOptions 2>/dev/null | grep -E '^gP(Link|Options)'; }
for c in "$DOM" "$STAFF" "$WKS" "$DCSITE"; do saved "$c" >"$TEST_TMP/saved.$(echo "$c" | md5sum | cut -c1-8)"; done
ALICE_DN="CN=alice,$STAFF"
"$LABCTL" run --admin -- ldapsearch -LLL -o ldif-wrap=no -Q -Y GSSAPI -H ldap://dc1.corp.test -s base -b "$ALICE_DN" \
	userCertificate 2>/dev/null | grep '^userCertificate' >"$TEST_TMP/alice-certs"
restore() {
	for c in "$DOM" "$STAFF" "$WKS" "$DCSITE"; do
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
	for n in 127.0.0.0/24 127.0.0.0/8; do st sites subnet remove "$n" >/dev/null 2>&1; done
	for n in AESiteNear AESiteWide; do st sites remove "$n" >/dev/null 2>&1; done
	# alice's certificates published by the pulse below: back as they were
	{
		printf 'dn: %s\nchangetype: modify\nreplace: userCertificate\n' "$ALICE_DN"
		cat "$TEST_TMP/alice-certs" 2>/dev/null
		printf -- '-\n\n'
	} | ldapmod
}
trap 'in_lab nft delete table inet aegpo 2>/dev/null; "$LABCTL" ces down >/dev/null 2>&1; restore; rm -rf "$TEST_TMP"' EXIT

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

# Group Policy's cache goes to state directories of the test's own
CONF=$TEST_TMP/ae.conf
printf '[global]\ndomain = %s\nldap_timeout = 3\ncomputer_gp_file = %s\n[machine]\nkeytab = %s\nstate_dir = %s\n[user]\nstate_dir = %s\n' \
	"$AE_LAB_DOMAIN" "$TEST_TMP/pub/computer-gp" "$AE_LAB_DIR/ws1.keytab" "$TEST_TMP/machine" "$TEST_TMP/user" >"$CONF"

# --- alice (OU=Staff) ---
as_user alice "$AUTOENROLL" -c "$CONF" gpo --json >"$TEST_TMP/alice.json" 2>"$TEST_TMP/err"
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
as_user bob "$AUTOENROLL" -c "$CONF" gpo --json >"$TEST_TMP/bob.json" 2>/dev/null
[ "$(st_of "$TEST_TMP/bob.json" "$G_FILTER")" = applied ]
ok $? "bob (same OU, not in the group): the filtered GPO applies to him"

# --- the machine (OU=Workstations, blocked inheritance) ---
as_machine "$AUTOENROLL" -c "$CONF" gpo --machine --json >"$TEST_TMP/ws.json" 2>"$TEST_TMP/err"
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
as_machine "$AUTOENROLL" -c "$CONF" gpo --machine >"$TEST_TMP/ws.txt" 2>&1
grep -q 'AE Enforced .* enforced *applied' "$TEST_TMP/ws.txt" && grep -q 'WMI filters are not evaluated' "$TEST_TMP/ws.txt"
ok $? "the text output: each GPO, where it is linked, applied or not and why" || diag "$(cat "$TEST_TMP/ws.txt")"

# --- SYSVOL: the settings in the GPOs' Registry.pol files ---
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj "/CN=AE GPO Root" \
	-days 2 -outform DER -out "$TEST_TMP/root.der" 2>/dev/null
THUMB=$(openssl x509 -inform DER -in "$TEST_TMP/root.der" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g')
V1=65537
{
	pol "$G_DOM" Machine $V1 "$AEK|AEPolicy|4|7" &&
	pol "$G_USEROFF" Machine $V1 "$AEK|AEPolicy|4|0x8000" &&
	pol "$G_USEROFF" User $V1 "$AEK|AEPolicy|4|0" &&
	pol "$G_ENF" Machine $V1 "$AEK|OfflineExpirationPercent|4|25" \
		"Software\Policies\Microsoft\SystemCertificates\Root\Certificates\\$THUMB|Blob|3|@$TEST_TMP/root.der" &&
	pol "$G_STAFF" User $V1 "$AEK|AEPolicy|4|7" &&
	pol "$G_FILTER" User $V1 "$AEK|AEPolicy|4|0"
} >>"$TEST_TMP/setup.log" 2>&1
ok $? "Registry.pol files written by Samba's Python into SYSVOL" || diag "$(tail -5 "$TEST_TMP/setup.log")"

as_machine "$AUTOENROLL" -c "$CONF" gpo --machine --json >"$TEST_TMP/ws1.json" 2>"$TEST_TMP/err"
ok $? "the machine's settings read from SYSVOL over SMB (Kerberos, the machine account)" || diag "$(cat "$TEST_TMP/err")"
[ "$(jq -r '.settings.aepolicy' "$TEST_TMP/ws1.json")" = 32768 ] &&
	[ "$(jq -r '.settings.aepolicy_gpo' "$TEST_TMP/ws1.json")" = "AE Staff users off" ]
ok $? "machine: AEPolicy 0x8000 from the GPO on its OU (the domain's 7 is blocked), the GPO named" ||
	diag "$(jq -c '.settings' "$TEST_TMP/ws1.json")"
[ "$(jq -r '.settings.offline_expiration_percent_gpo' "$TEST_TMP/ws1.json")" = "AE Enforced" ] &&
	jq -e --arg t "$THUMB" '.settings.certificates == [{"store": "Root", "thumbprint": $t, "gpo": "AE Enforced"}]' \
		"$TEST_TMP/ws1.json" >/dev/null
ok $? "machine: the enforced GPO's expiry setting and its root certificate (thumbprint openssl's)"
first=$(jq -r '.sysvol.smb_files' "$TEST_TMP/ws1.json")
[ "$first" -ge 3 ] && [ "$(jq -r '.sysvol.cached' "$TEST_TMP/ws1.json")" -eq 0 ]
ok $? "first read: GPT.INI and Registry.pol over SMB ($first files, $(jq -r .sysvol.duration_ms "$TEST_TMP/ws1.json") ms)"

as_machine "$AUTOENROLL" -c "$CONF" gpo --machine --json >"$TEST_TMP/ws2.json" 2>/dev/null
[ "$(jq -r '.sysvol.smb_files' "$TEST_TMP/ws2.json")" -eq 0 ] && [ "$(jq -r '.sysvol.smb_sessions' "$TEST_TMP/ws2.json")" -eq 0 ] &&
	[ "$(jq -r '.settings.aepolicy' "$TEST_TMP/ws2.json")" = 32768 ]
ok $? "unchanged versions: the cached copies, no SMB at all ($(jq -r .sysvol.duration_ms "$TEST_TMP/ws2.json") ms), the same settings"
diag "machine GP step: LDAP $(jq -r .round_trips "$TEST_TMP/ws1.json") round trips; SMB first $first files, cached $(jq -r .sysvol.smb_files "$TEST_TMP/ws2.json")"

as_user alice "$AUTOENROLL" -c "$CONF" gpo --json >"$TEST_TMP/alice2.json" 2>"$TEST_TMP/err"
[ "$(jq -r '.settings.aepolicy' "$TEST_TMP/alice2.json")" = 7 ] && [ "$(jq -r '.settings.aepolicy_gpo' "$TEST_TMP/alice2.json")" = "AE Staff" ]
ok $? "alice: AEPolicy 7 from her OU's GPO; the disabled user half (0) and the filtered GPO (0) do not reach her" ||
	diag "$(cat "$TEST_TMP/err")" "$(jq -c '.settings' "$TEST_TMP/alice2.json")"

# diagnose's Group Policy check names the GPOs and where AEPolicy comes from
as_machine "$AUTOENROLL" -c "$CONF" diagnose --machine --json >"$TEST_TMP/diag.json" 2>/dev/null
jq -e '.checks[] | select(.id == "group-policy") | .status == "pass" and
	.details.AEPolicy == "0x8000 from \"AE Staff users off\"" and
	(.details["AE Staff users off"] | startswith("applied"))' "$TEST_TMP/diag.json" >/dev/null
ok $? "diagnose --machine: the Group Policy check lists the GPOs and names the one AEPolicy comes from" ||
	diag "$(jq -c '.checks[] | select(.id == "group-policy")' "$TEST_TMP/diag.json" 2>&1)"

# --- pulses under Group Policy: its AEPolicy wins over the file's ---
sed 's/^\[global\]/[global]\npolicy_refresh = 0\nrpc_timeout = 10/; s/^\[user\]/[user]\naepolicy = disabled/' "$CONF" >"$TEST_TMP/pulse.conf"
as_machine env AUTOENROLL_LIBEXECDIR="$AE_BIN" "$AE_BIN/autoenroll-machine" --json -c "$TEST_TMP/pulse.conf" \
	>"$TEST_TMP/mp.json" 2>"$TEST_TMP/err"
rc=$?
[ $rc -eq 0 ] && jq -e '[.events[] | select(.event == "disabled")] | length == 1' "$TEST_TMP/mp.json" >/dev/null &&
	jq -r '.events[] | select(.event == "disabled") | .message' "$TEST_TMP/mp.json" |
		grep -q 'disabled (AEPolicy 0x8000 from Group Policy "AE Staff users off")' &&
	[ "$(jq -r '.counts.enrolled' "$TEST_TMP/mp.json")" = 0 ]
ok $? "machine pulse: AEPolicy 0x8000 on its OU, nothing done, the event names the GPO" ||
	diag "rc=$rc" "$(cat "$TEST_TMP/err")" "$(jq -c '[.events[] | [.event, .message]]' "$TEST_TMP/mp.json" 2>/dev/null)"
# GPO certificates in the trust: the machine's OU enables only pending
# retrieval (cheap); the enforced GPO's root lands in the trust directory;
# once another GPO lists it as Disallowed, it leaves (and stays listed there)
SHA256=$(openssl x509 -inform DER -in "$TEST_TMP/root.der" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' |
	tr 'A-F' 'a-f')
sed "s|^\[machine\]|[machine]\ntrust_dir = $TEST_TMP/trust|" "$TEST_TMP/pulse.conf" >"$TEST_TMP/trust.conf"
sed 's/^\[machine\]/[machine]\naepolicy = disabled/' "$TEST_TMP/trust.conf" >"$TEST_TMP/off.conf"
mpulse() { # OUT [CONF]
	as_machine env AUTOENROLL_LIBEXECDIR="$AE_BIN" "$AE_BIN/autoenroll-machine" --json -c "${2:-$TEST_TMP/trust.conf}" \
		>"$TEST_TMP/$1" 2>"$TEST_TMP/$1.err"
}
# gp_events FILE KIND: the GPOs named by the pulse's events of KIND, one a line
gp_events() { jq -r --arg k "$2" '.events[] | select(.event == $k) | .gpo' "$1"; }
pol "$G_USEROFF" Machine $((V1 + 1)) "$AEK|AEPolicy|4|4" >>"$TEST_TMP/setup.log" 2>&1
mpulse tp1.json
[ -f "$TEST_TMP/trust/roots/$SHA256.pem" ] &&
	openssl x509 -in "$TEST_TMP/trust/roots/$SHA256.pem" -noout -subject | grep -q 'AE GPO Root' &&
	grep -q "$(sed -n 2p "$TEST_TMP/trust/roots/$SHA256.pem")" "$TEST_TMP/trust/roots.pem" &&
	jq -r '.events[] | select(.event == "trust-updated") | .message' "$TEST_TMP/tp1.json" |
		grep -q 'Group Policy: 1 certificates, 0 disallowed'
ok $? "machine pulse: the root the enforced GPO distributes is in the trust directory and its bundle" ||
	diag "$(cat "$TEST_TMP/tp1.json.err")" "$(ls -R "$TEST_TMP/trust" 2>&1)" "$(jq -c '[.events[] | [.event, .message]]' "$TEST_TMP/tp1.json")"
[ "$(gp_events "$TEST_TMP/tp1.json" gp-applied)" = "AE Staff users off" ] &&
	jq -r '.events[] | select(.event == "gp-applied") | .message' "$TEST_TMP/tp1.json" | grep -q '(version 2)'
ok $? "the one GPO changed since the last read: a gp-applied event naming it (AUTOENROLL_GPO), its version" ||
	diag "$(cat "$TEST_TMP/tp1.json.err")" "$(ls -R "$TEST_TMP/trust" 2>&1)" "$(jq -c '[.events[] | [.event, .message]]' "$TEST_TMP/tp1.json")"
pol "$G_USEROFF" Machine $((V1 + 2)) "$AEK|AEPolicy|4|4" \
	"Software\Policies\Microsoft\SystemCertificates\Disallowed\Certificates\\$THUMB|Blob|3|@$TEST_TMP/root.der" \
	>>"$TEST_TMP/setup.log" 2>&1
mpulse tp2.json
[ ! -e "$TEST_TMP/trust/roots/$SHA256.pem" ] && [ -f "$TEST_TMP/trust/disallowed/$SHA256.pem" ] &&
	! grep -q "$(sed -n 2p "$TEST_TMP/trust/disallowed/$SHA256.pem")" "$TEST_TMP/trust/roots.pem" &&
	jq -r '.events[] | select(.event == "trust-updated") | .message' "$TEST_TMP/tp2.json" | grep -q '1 disallowed'
ok $? "once a GPO lists it as Disallowed, it leaves the roots (still distributed by the enforced GPO)" ||
	diag "$(cat "$TEST_TMP/tp2.json.err")" "$(ls -R "$TEST_TMP/trust" 2>&1)" "$(jq -c '[.events[] | [.event, .message]]' "$TEST_TMP/tp2.json")"
# the machine's OU as it was (disabled), read once so that the cache has it
pol "$G_USEROFF" Machine $((V1 + 3)) "$AEK|AEPolicy|4|0x8000" >>"$TEST_TMP/setup.log" 2>&1
as_machine "$AUTOENROLL" -c "$CONF" gpo --machine --json >/dev/null 2>&1

as_user alice env AUTOENROLL_LIBEXECDIR="$AE_BIN" "$AUTOENROLL" pulse --user --wait --json -c "$TEST_TMP/pulse.conf" \
	>"$TEST_TMP/up.json" 2>"$TEST_TMP/err"
rc=$?
[ $rc -eq 0 ] && jq -e '[.events[] | select(.event == "enrolled" and .template == "LabUser")] | length == 1' "$TEST_TMP/up.json" >/dev/null
ok $? "alice's pulse: aepolicy disabled in the file, AEPolicy 7 from her OU's GPO wins: LabUser enrolled" ||
	diag "rc=$rc" "$(cat "$TEST_TMP/err")" "$(jq -c '[.events[] | [.event, .template, .message]]' "$TEST_TMP/up.json" 2>/dev/null)"
sed -i 's/^\[global\]/[global]\ngroup_policy = no/' "$TEST_TMP/pulse.conf"
as_user alice env AUTOENROLL_LIBEXECDIR="$AE_BIN" "$AUTOENROLL" pulse --user --wait --json -c "$TEST_TMP/pulse.conf" \
	>"$TEST_TMP/up2.json" 2>/dev/null
jq -e '[.events[] | select(.event == "disabled")] | length == 1' "$TEST_TMP/up2.json" >/dev/null &&
	jq -r '.events[] | select(.event == "disabled") | .message' "$TEST_TMP/up2.json" | grep -q 'aepolicy 0x8000 in \[user\]'
ok $? "group_policy = no: the file's aepolicy (disabled) alone"

pol "$G_ENF" Machine $((V1 + 1)) "$AEK|OfflineExpirationPercent|4|30"
as_machine "$AUTOENROLL" -c "$CONF" gpo --machine --json >"$TEST_TMP/ws3.json" 2>/dev/null
[ "$(jq -r '.settings.offline_expiration_percent' "$TEST_TMP/ws3.json")" = 30 ] &&
	[ "$(jq -r '.sysvol.smb_files' "$TEST_TMP/ws3.json")" -eq 2 ] && [ "$(jq -r '.settings.certificates | length' "$TEST_TMP/ws3.json")" -eq 0 ]
ok $? "a new version of one GPO: only its two files read again, its new settings (the root certificate gone)"

# SYSVOL unreachable: AD says a newer version, SMB is refused
printf 'dn: CN=%s,%s\nchangetype: modify\nreplace: versionNumber\nversionNumber: %s\n-\n\n' "$G_ENF" "$POL" $((V1 + 2)) | ldapmod
in_lab nft -f - <<'NFT'
table inet aegpo {
	chain out {
		type filter hook output priority 0;
		tcp dport { 139, 445 } reject with tcp reset
	}
}
NFT
as_machine "$AUTOENROLL" -c "$CONF" gpo --machine --json >"$TEST_TMP/ws4.json" 2>"$TEST_TMP/err"
rc=$?
mpulse tp3.json "$TEST_TMP/off.conf"
in_lab nft delete table inet aegpo
[ $rc -eq 0 ] && [ "$(jq -r '.settings.offline_expiration_percent' "$TEST_TMP/ws4.json")" = 30 ] &&
	jq -r --arg g "$G_ENF" '.gpos[] | select(.guid == $g) | .registry_pol' "$TEST_TMP/ws4.json" | grep -q 'SYSVOL unreachable' &&
	[ "$(grep -c 'AE Enforced.*using the copy of version' "$TEST_TMP/err")" -eq 1 ]
ok $? "SYSVOL unreachable: the copy cached before is used, one warning naming the GPO" ||
	diag "rc=$rc" "$(cat "$TEST_TMP/err")" "$(jq -c "[.sysvol, [.gpos[] | [.name, .registry_pol, .registry_pol_problem]]]" "$TEST_TMP/ws4.json")"
[ "$(gp_events "$TEST_TMP/tp3.json" gp-read-failed)" = "AE Enforced" ] && [ -z "$(gp_events "$TEST_TMP/tp3.json" gp-applied)" ] &&
	jq -r '.events[] | select(.event == "gp-read-failed") | .message' "$TEST_TMP/tp3.json" | grep -q 'SYSVOL unreachable'
ok $? "a pulse with SYSVOL unreachable: one gp-read-failed event naming the GPO, its cached settings apply" ||
	diag "$(jq -c '[.events[] | [.event, .gpo, .message]]' "$TEST_TMP/tp3.json")"

# a bad size field: that file is refused whole, the other GPOs still apply
pol "$G_USEROFF" Machine $((V1 + 4)) "$AEK|AEPolicy|4|0x8000"
/usr/bin/python3 - "$SYSVOL/$G_USEROFF/Machine/Registry.pol" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
at = len(b) - 2 - 4 - 2 - 4          # the size field of the last entry
struct.pack_into("<I", b, at, 0x100)
open(sys.argv[1], "wb").write(bytes(b))
PY
as_machine "$AUTOENROLL" -c "$CONF" gpo --machine --json >"$TEST_TMP/ws5.json" 2>"$TEST_TMP/err"
[ "$(jq -r '.settings.aepolicy' "$TEST_TMP/ws5.json")" = null ] &&
	jq -r --arg g "$G_USEROFF" '.gpos[] | select(.guid == $g) | .registry_pol_problem' "$TEST_TMP/ws5.json" |
		grep -q 'AE Staff users off.*Registry.pol damaged at byte .*: the size field' &&
	[ "$(jq -r '.settings.offline_expiration_percent' "$TEST_TMP/ws5.json")" = 30 ]
ok $? "a bad size field: an error naming the GPO and the offset, nothing of that file applied, the others still" ||
	diag "$(jq -c '[.gpos[] | .registry_pol_problem]' "$TEST_TMP/ws5.json")"

mpulse tp4.json "$TEST_TMP/off.conf"
[ "$(gp_events "$TEST_TMP/tp4.json" gp-read-failed)" = "AE Staff users off" ] &&
	jq -r '.events[] | select(.event == "gp-read-failed") | .message' "$TEST_TMP/tp4.json" | grep -q 'damaged at byte [0-9]'
ok $? "a pulse with the damaged file: a gp-read-failed event naming the GPO and the offset" ||
	diag "$(jq -c '[.events[] | [.event, .gpo, .message]]' "$TEST_TMP/tp4.json")"

# PolicyServers from the enforced domain GPO (the lab CEP first, LDAP: after
# it): autoenroll policy reads the policy from the CEP, and says where each
# option came from (the GPO, the file, the default)
PS='Software\Policies\Microsoft\Cryptography\PolicyServers'
"$LABCTL" ces up >>"$TEST_TMP/setup.log" 2>&1 &&
	pol "$G_ENF" Machine $((V1 + 3)) "$AEK|OfflineExpirationPercent|4|30" \
		"$PS\\lab-cep|URL|1|$AE_LAB_CEP_URL" "$PS\\lab-cep|FriendlyName|1|Lab CEP" "$PS\\lab-cep|Flags|4|0x10" \
		"$PS\\lab-cep|AuthFlags|4|2" "$PS\\lab-cep|Cost|4|100" \
		"$PS\\ad|URL|1|LDAP:" "$PS\\ad|Flags|4|0x10" "$PS\\ad|AuthFlags|4|2" "$PS\\ad|Cost|4|200" \
		>>"$TEST_TMP/setup.log" 2>&1
ok $? "a GPO names the lab CEP and LDAP: as policy servers (labctl ces up)" || diag "$(tail -5 "$TEST_TMP/setup.log")"
as_machine "$AUTOENROLL" -c "$TEST_TMP/trust.conf" policy --machine --json >"$TEST_TMP/pol.json" 2>"$TEST_TMP/err"
rc=$?
[ $rc -eq 0 ] && [ "$(jq -r .policy_server.url "$TEST_TMP/pol.json")" = "$AE_LAB_CEP_URL" ] &&
	jq -e --arg u "$AE_LAB_CEP_URL" '.options.policy_servers == {"value": [$u, "LDAP:"],
		"source": "group_policy", "gpo": "AE Enforced"}' "$TEST_TMP/pol.json" >/dev/null
ok $? "policy --machine: the policy from the CEP the GPO names, the GPO named as its source" ||
	diag "rc=$rc" "$(cat "$TEST_TMP/err")" "$(jq -c '[.policy_server, .options]' "$TEST_TMP/pol.json" 2>&1)"
jq -e '.options.expiry_warning_percent == {"value": 30, "source": "group_policy", "gpo": "AE Enforced"} and
	.options.aepolicy == {"value": 7, "source": "default", "gpo": null}' "$TEST_TMP/pol.json" >/dev/null
ok $? "policy --json: OfflineExpirationPercent from the GPO over the file, aepolicy the default (its GPO's file is damaged)" ||
	diag "$(jq -c .options "$TEST_TMP/pol.json" 2>&1)"
sed 's/^\[machine\]/[machine]\naepolicy = 6/' "$TEST_TMP/trust.conf" >"$TEST_TMP/ae6.conf"
as_machine "$AUTOENROLL" -c "$TEST_TMP/ae6.conf" policy --machine >"$TEST_TMP/pol.txt" 2>&1
grep -q "from *policy servers: Group Policy \"AE Enforced\"; aepolicy 0x6: the configuration; expiry_warning_percent 30: Group Policy \"AE Enforced\"" \
	"$TEST_TMP/pol.txt" && grep -q "policy server *$AE_LAB_CEP_URL" "$TEST_TMP/pol.txt"
ok $? "policy (text): where each option came from, the configuration's aepolicy named" || diag "$(head -8 "$TEST_TMP/pol.txt")"
# a pulse (pending retrieval only: nothing enrolled) reads its policy from them
sed 's/^\[machine\]/[machine]\naepolicy = retrieve-pending/' "$TEST_TMP/trust.conf" >"$TEST_TMP/ae4.conf"
as_machine env AUTOENROLL_LIBEXECDIR="$AE_BIN" "$AE_BIN/autoenroll-machine" --json -v -c "$TEST_TMP/ae4.conf" \
	>"$TEST_TMP/tp5.json" 2>"$TEST_TMP/tp5.err"
rc=$?
[ $rc -eq 0 ] && grep -q 'the policy servers of Group Policy "AE Enforced": policy from .*ces.corp.test' "$TEST_TMP/tp5.err" &&
	jq -e '[.events[] | select(.event == "pulse-failed")] | length == 0' "$TEST_TMP/tp5.json" >/dev/null
ok $? "machine pulse: its policy from the CEP the GPO names, over the file's (LDAP: alone)" ||
	diag "rc=$rc" "$(tail -5 "$TEST_TMP/tp5.err")" "$(jq -c '[.events[] | [.event, .message]]' "$TEST_TMP/tp5.json" 2>&1)"

# --- loopback replace (MS-GPOL 3.2.5.1): a GPO on the workstation's OU sets
# UserPolicyMode 2 in its computer half and AEPolicy 0x8000 in its user
# half; the machine's Group Policy publishes the mode and its DN
# (computer_gp_file), alice's reads the computer's GPOs with her own
# credentials: her OU's GPO (AEPolicy 7) is ignored, her pulse does nothing
SYSK='Software\Policies\Microsoft\Windows\System'
{
	gpo_add G_LOOP "AE Loopback" 0 &&
	st gpo setlink "$WKS" "$G_LOOP" &&
	pol "$G_LOOP" Machine $V1 "$SYSK|UserPolicyMode|4|2" &&
	pol "$G_LOOP" User $V1 "$AEK|AEPolicy|4|0x8000"
} >>"$TEST_TMP/setup.log" 2>&1
as_machine "$AUTOENROLL" -c "$CONF" gpo --machine --json >"$TEST_TMP/lbm.json" 2>"$TEST_TMP/err"
[ "$(jq -r '.settings.user_policy_mode' "$TEST_TMP/lbm.json")" = 2 ] &&
	grep -qx 'user_policy_mode = 2' "$TEST_TMP/pub/computer-gp" &&
	grep -qx "computer_dn = CN=WS1,$WKS" "$TEST_TMP/pub/computer-gp" &&
	[ "$(stat -c %U:%a "$TEST_TMP/pub/computer-gp")" = root:644 ]
ok $? "machine: UserPolicyMode 2 from the GPO on its OU, published with its DN for users (root's, world-readable)" ||
	diag "$(cat "$TEST_TMP/err")" "$(cat "$TEST_TMP/pub/computer-gp" 2>&1)" "$(jq -c .settings "$TEST_TMP/lbm.json")"
as_user alice "$AUTOENROLL" -c "$CONF" gpo --json >"$TEST_TMP/lba.json" 2>"$TEST_TMP/err"
jq -e --arg c "CN=WS1,$WKS" --arg s "$G_STAFF" '.loopback.mode == "replace" and .loopback.computer == $c and
	.loopback.gpo == "AE Loopback" and .settings.aepolicy == 32768 and .settings.aepolicy_gpo == "AE Loopback" and
	([.gpos[] | select(.guid == $s)] | length == 0) and ([.gpos[] | select(.list != "computer")] | length == 0)' \
	"$TEST_TMP/lba.json" >/dev/null
ok $? "alice under loopback replace: the workstation OU's GPOs alone (her OU's left out), AEPolicy 0x8000 from its user half" ||
	diag "$(cat "$TEST_TMP/err")" "$(jq -c '[.loopback, .settings.aepolicy, [.gpos[] | [.name, .status, .list]]]' "$TEST_TMP/lba.json")"
as_user alice "$AUTOENROLL" -c "$CONF" gpo >"$TEST_TMP/lba.txt" 2>&1
grep -q "Loopback processing: replace (UserPolicyMode 2 from \"AE Loopback\"): only the GPOs of the computer CN=WS1,$WKS" \
	"$TEST_TMP/lba.txt"
ok $? "gpo --user (text): the loopback mode and where the list came from" || diag "$(head -5 "$TEST_TMP/lba.txt")"
sed 's/^\[global\]/[global]\npolicy_refresh = 0\nrpc_timeout = 10/' "$CONF" >"$TEST_TMP/lb.conf"
as_user alice env AUTOENROLL_LIBEXECDIR="$AE_BIN" "$AUTOENROLL" pulse --user --wait --json -c "$TEST_TMP/lb.conf" \
	>"$TEST_TMP/lbp.json" 2>"$TEST_TMP/err"
jq -r '.events[] | select(.event == "disabled") | .message' "$TEST_TMP/lbp.json" | grep -q 'Group Policy "AE Loopback"' &&
	[ "$(jq -r '.counts.enrolled' "$TEST_TMP/lbp.json")" = 0 ]
ok $? "alice's pulse under loopback replace: disabled by the workstation OU's GPO, nothing enrolled" ||
	diag "$(cat "$TEST_TMP/err")" "$(jq -c '[.events[] | [.event, .template, .message]]' "$TEST_TMP/lbp.json" 2>&1)"

# --- loopback merge (MS-GPOL 3.2.1.3, 3.2.5.1): the same GPO with
# UserPolicyMode 1; alice's own GPO list, then the computer's appended
# (applied later: it wins); her OU's GPO now also sets
# OfflineExpirationPercent, which no computer GPO sets: it stays hers.
# The mode is put back to 2 after.
{
	pol "$G_LOOP" Machine $((V1 + 1)) "$SYSK|UserPolicyMode|4|1" &&
	pol "$G_STAFF" User $((V1 + 65536)) "$AEK|AEPolicy|4|7" "$AEK|OfflineExpirationPercent|4|20"
} >>"$TEST_TMP/setup.log" 2>&1
as_machine "$AUTOENROLL" -c "$CONF" gpo --machine --json >"$TEST_TMP/lgm.json" 2>"$TEST_TMP/err"
grep -qx 'user_policy_mode = 1' "$TEST_TMP/pub/computer-gp"
ok $? "machine: UserPolicyMode 1 (merge) from the GPO on its OU, published for users" ||
	diag "$(cat "$TEST_TMP/err")" "$(cat "$TEST_TMP/pub/computer-gp" 2>&1)"
as_user alice "$AUTOENROLL" -c "$CONF" gpo --json >"$TEST_TMP/lga.json" 2>"$TEST_TMP/err"
applied() { jq -c '[.gpos[] | select(.applied) | [.order, .list, .guid]]' "$1"; }
# her own applied GPOs (no loopback, alice.json), then the computer's for her (replace, lba.json)
want=$(jq -cn --slurpfile a "$TEST_TMP/alice.json" --slurpfile c "$TEST_TMP/lba.json" '
	[($a[0].gpos[] | select(.applied) | ["account", .guid]), ($c[0].gpos[] | select(.applied) | ["computer", .guid])] |
	to_entries | map([.key + 1] + .value)')
[ "$(applied "$TEST_TMP/lga.json")" = "$want" ] && jq -e --arg c "CN=WS1,$WKS" '.loopback.mode == "merge" and
	.loopback.user_policy_mode == 1 and .loopback.computer == $c and .loopback.gpo == "AE Loopback" and
	([.gpos[] | select(.applied and .list == "account")] | length >= 3) and
	([.gpos[] | select(.applied and .list == "computer")] | length >= 2)' "$TEST_TMP/lga.json" >/dev/null
ok $? "alice under loopback merge: her own GPOs (order 1..n, list account), then the computer's appended (list computer)" ||
	diag "$(cat "$TEST_TMP/err")" "want $want" "got  $(applied "$TEST_TMP/lga.json")" "$(jq -c .loopback "$TEST_TMP/lga.json")"
jq -e '.settings.aepolicy == 32768 and .settings.aepolicy_gpo == "AE Loopback" and
	.settings.offline_expiration_percent == 20 and .settings.offline_expiration_percent_gpo == "AE Staff"' \
	"$TEST_TMP/lga.json" >/dev/null
ok $? "merge: AEPolicy set by both, the computer's GPO wins (0x8000 over her OU's 7); her OU's OfflineExpirationPercent kept" ||
	diag "$(jq -c .settings "$TEST_TMP/lga.json")"
pol "$G_LOOP" Machine $((V1 + 2)) "$SYSK|UserPolicyMode|4|2" >>"$TEST_TMP/setup.log" 2>&1
as_machine "$AUTOENROLL" -c "$CONF" gpo --machine --json >/dev/null 2>&1
grep -qx 'user_policy_mode = 2' "$TEST_TMP/pub/computer-gp"
ok $? "the workstation OU's GPO back to UserPolicyMode 2 (replace), published again"

# --- AEPolicy 7 from the domain's GPO with no aepolicy in the file: with
# inheritance no longer blocked at its OU (and the GPO's policy servers
# gone: LDAP: alone), the machine enrolls for LabMachine
{
	st gpo setinheritance "$WKS" inherit &&
	pol "$G_ENF" Machine $((V1 + 4)) "$AEK|OfflineExpirationPercent|4|30"
} >>"$TEST_TMP/setup.log" 2>&1
as_machine env AUTOENROLL_LIBEXECDIR="$AE_BIN" "$AE_BIN/autoenroll-machine" --json -v -c "$TEST_TMP/lb.conf" \
	>"$TEST_TMP/me.json" 2>"$TEST_TMP/me.err"
rc=$?
! grep -q aepolicy "$TEST_TMP/lb.conf" && grep -q 'AEPolicy 0x7 from Group Policy "AE Domain"' "$TEST_TMP/me.err" &&
	jq -e '[.events[] | select(.event == "enrolled" and .template == "LabMachine")] | length == 1' "$TEST_TMP/me.json" >/dev/null
ok $? "machine pulse, no aepolicy in the file: AEPolicy 7 from the domain's GPO, LabMachine enrolled" ||
	diag "rc=$rc" "$(grep -i 'aepolicy\|error' "$TEST_TMP/me.err" | tail -5)" "$(jq -c '[.events[] | [.event, .template, .message]]' "$TEST_TMP/me.json" 2>&1)"

# --- the host's site from the subnet objects (DsGetSiteName): 127.0.0.0/8
# in one site, 127.0.0.0/24 (the longest prefix holding this host's
# address) in another, which has a GPO; the DC's own site has one too
{
	st sites create AESiteWide && st sites create AESiteNear &&
	st sites subnet create 127.0.0.0/8 AESiteWide && st sites subnet create 127.0.0.0/24 AESiteNear &&
	gpo_add G_SITE "AE Site" 0 && st gpo setlink "CN=AESiteNear,$SITES" "$G_SITE" &&
	gpo_add G_DCSITE "AE DC site" 0 && st gpo setlink "$DCSITE" "$G_DCSITE"
} >>"$TEST_TMP/setup.log" 2>&1
ok $? "sites and subnets made with samba-tool, a GPO linked to each site" || diag "$(tail -5 "$TEST_TMP/setup.log")"
as_machine "$AUTOENROLL" -c "$CONF" gpo --machine --json >"$TEST_TMP/site.json" 2>"$TEST_TMP/err"
[ "$(jq -r '.site.dn' "$TEST_TMP/site.json")" = "CN=AESiteNear,$SITES" ] &&
	[ "$(jq -r '.site.subnet' "$TEST_TMP/site.json")" = 127.0.0.0/24 ] &&
	[ "$(st_of "$TEST_TMP/site.json" "$G_SITE")" = applied ] && [ -z "$(st_of "$TEST_TMP/site.json" "$G_DCSITE")" ] &&
	[ "$(jq -r '.round_trips' "$TEST_TMP/site.json")" -eq 3 ]
ok $? "the site from the subnets (the longest prefix wins), its GPO applied, the DC's site left; still 3 round trips" ||
	diag "$(cat "$TEST_TMP/err")" "$(jq -c '[.site, .round_trips, [.gpos[] | [.name, .som, .status]]]' "$TEST_TMP/site.json")"

done_testing
