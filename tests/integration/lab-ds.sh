#!/bin/bash
# lab-ds.sh - certificates in the account's userCertificate attribute, as
# Windows uses them (whitepaper: "Submitting a new request", "Certificate
# store cleanup"):
#  - the CA publishes what it issues there when the template has
#    CT_FLAG_PUBLISH_TO_DS (MS-WCCE 3.2.2.6.2.1.4.5.6; written as CA1$, a
#    member of Cert Publishers);
#  - a template with CT_FLAG_AUTO_ENROLLMENT_CHECK_USER_DS_CERTIFICATE gets
#    no new request while a valid certificate of it is in userCertificate
#    (enrolled on another machine);
#  - under Manage, the pulse removes revoked certificates from
#    userCertificate; expired and superseded ones stay.
# alice's userCertificate and LabUser's flags are restored at the end.
. "$(dirname "$0")/lib.sh"
lab_require
. <("$LABCTL" env)
CALOG=$AE_LAB_DIR/ca/requests.log
TPL_DN="CN=LabUser,CN=Certificate Templates,CN=Public Key Services,CN=Services,$AE_LAB_CONFIG_NC"
ALICE_DN="CN=alice,OU=Staff,$AE_LAB_DOMAIN_DN"

ldapmod() { "$LABCTL" run --admin -- ldapmodify -Q -Y GSSAPI -H ldap://dc1.corp.test >/dev/null 2>&1; }
enroll_flag() { printf 'dn: %s\nchangetype: modify\nreplace: msPKI-Enrollment-Flag\nmsPKI-Enrollment-Flag: %s\n' "$TPL_DN" "$1" | ldapmod; }
ds_certs() { # alice's userCertificate values, base64 DER, one a line
	as_user alice ldapsearch -Q -LLL -o ldif-wrap=no -Y GSSAPI -H "ldap://$AE_LAB_DC" -b "$ALICE_DN" -s base \
		userCertificate 2>/dev/null | sed -n 's/^userCertificate;binary:: //p; s/^userCertificate:: //p'
}
ds_serials() { ds_certs | while read -r b; do echo "$b" | base64 -d | openssl x509 -inform DER -noout -serial | cut -d= -f2; done; }
saved=$(ds_certs)
restore() {
	enroll_flag 41
	{ printf 'dn: %s\nchangetype: modify\nreplace: userCertificate\n' "$ALICE_DN"
	  for b in $saved; do printf 'userCertificate:: %s\n' "$b"; done; } | ldapmod
}
trap 'restore; rm -rf "$TEST_TMP"' EXIT

conf() { # NAME: alice's state on one "machine"
	cat >"$TEST_TMP/$1.conf" <<CONF
[global]
rpc_timeout = 10
crl_timeout = 5
policy_refresh = 0
[user]
state_dir = $TEST_TMP/$1
CONF
}
pulse() { # NAME
	as_user alice env AUTOENROLL_LIBEXECDIR="$AE_BIN" "$AUTOENROLL" pulse --user --wait --json \
		-c "$TEST_TMP/$1.conf" >"$TEST_TMP/r.json" 2>"$TEST_TMP/r.err"
}
ev() { jq -r --arg e "$1" --arg t "${2:-}" '[.events[] | select(.event==$e and ($t=="" or .template==$t))] | length' "$TEST_TMP/r.json"; }
show() { diag "$(jq -c '[.events[] | {event, template, message}]' "$TEST_TMP/r.json" 2>/dev/null | head -c 2500)" "$(head -c 1000 "$TEST_TMP/r.err")"; }
lines() { if [ -e "$1" ]; then wc -l <"$1"; else echo 0; fi; }
labuser_serial() { # NAME: serial of the issued LabUser certificate in that state
	local id
	id=$("$AUTOENROLL" status --user --json -c "$TEST_TMP/$1.conf" 2>/dev/null |
		jq -r '.records[] | select(.template=="LabUser" and .state=="issued") | .id' | head -1)
	[ -n "$id" ] && openssl x509 -in "$TEST_TMP/$1/certs/$id.pem" -noout -serial | cut -d= -f2
}

# --- PUBLISH_TO_DS: the CA publishes alice's LabUser certificate
conf a
pulse a
s1=$(labuser_serial a)
[ "$(ev enrolled LabUser)" = 1 ] && [ -n "$s1" ]
ok $? "alice's pulse enrolls LabUser" || show
ds_serials | grep -qix "$s1"
ok $? "PUBLISH_TO_DS: the CA put it in alice's userCertificate ($s1)"
tail -n 20 "$CALOG" | jq -e --arg s "${s1,,}" 'select(.serial==$s) | .published | test("published|already")' >/dev/null
ok $? "... written by the CA as CA1\$ (requests.log: published)"

# --- CHECK_USER_DS_CERTIFICATE: alice on another machine (no local
# certificate) with a valid LabUser certificate in AD: no new request
enroll_flag $((41 | 0x10))
conf b
m=$(lines "$CALOG")
pulse b
n=$(tail -n +$((m + 1)) "$CALOG" | jq -s '[.[] | select(.template=="LabUser")] | length')
[ "$(ev enrolled LabUser)" = 0 ] && [ "$n" = 0 ] && [ -z "$(labuser_serial b)" ]
ok $? "CHECK_USER_DS_CERTIFICATE: a valid LabUser certificate in userCertificate, none here: no request" || show
[ "$(ev enrolled LabNew)" = 1 ]
ok $? "... while the other templates are enrolled on that machine" || show
enroll_flag 41
conf c
pulse c
[ "$(ev enrolled LabUser)" = 1 ]
ok $? "without the flag the same pulse enrolls LabUser (the certificate in AD is not looked at)" || show

# --- Manage: a revoked certificate leaves userCertificate; others stay
"$LABCTL" revoke "$s1" 1 >/dev/null
ok $? "labctl revoke $s1 (key compromise)"
before=$(ds_serials | wc -l)
pulse a
[ "$(ev ds-cert-removed)" -ge 1 ] && ! ds_serials | grep -qix "$s1"
ok $? "Manage: the pulse removes the revoked certificate from alice's userCertificate" || show
jq -e --arg s "$s1" '.events[] | select(.event=="ds-cert-removed") | .message | test($s; "i")' "$TEST_TMP/r.json" >/dev/null
ok $? "... and the event names its serial" || show
s2=$(labuser_serial a)
[ -n "$s2" ] && [ "$s2" != "$s1" ] && ds_serials | grep -qix "$s2" && [ "$(ds_serials | wc -l)" -ge $((before - 1)) ]
ok $? "the revoked local certificate is replaced; the new one is published; valid ones stay ($(ds_serials | wc -l) values)" || show
done_testing
