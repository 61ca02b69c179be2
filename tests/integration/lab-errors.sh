#!/bin/bash
# lab-errors.sh - failures in the lab give a clear message, a non-zero exit
# and bounded time: no credentials, disabled account, wrong domain, unknown
# service principal, unreachable DC (silently dropped), missing keytab, bad
# configuration, malformed template attributes in AD.
. "$(dirname "$0")/lib.sh"
lab_require
. <("$LABCTL" env)

conf() { # conf NAME CONTENT: write a config file, print its path
	printf '%b' "$2" >"$TEST_TMP/$1.conf"
	echo "$TEST_TMP/$1.conf"
}

# expect_fail DESCRIPTION NEEDLE CMD...: exit 1 and NEEDLE in stderr
expect_fail() {
	local what=$1 needle=$2 rc
	shift 2
	"$@" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
	rc=$?
	[ $rc -eq 1 ] && grep -qF -- "$needle" "$TEST_TMP/err"
	ok $? "$what"
	[ $rc -eq 1 ] && grep -qF -- "$needle" "$TEST_TMP/err" || diag "exit $rc, stderr: $(cat "$TEST_TMP/err")"
}

expect_fail "no credentials: clear message" "no Kerberos credentials for the user" \
	in_lab env KRB5CCNAME="FILE:$TEST_TMP/no-such-ccache" "$AUTOENROLL" policy

"$LABCTL" run --user carol -- true >"$TEST_TMP/carol" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -Eqi "revoked|disabled" "$TEST_TMP/carol"
ok $? "disabled account: no ticket, the KDC says why"

c=$(conf wrongdomain '[global]\ndomain = wrong.test\n')
expect_fail "wrong domain: no DC found, the SRV name is given" \
	"no domain controller found for wrong.test: the DNS servers could not resolve _ldap._tcp.dc._msdcs.wrong.test" \
	as_user alice "$AUTOENROLL" policy -c "$c"

c=$(conf wrongrealm "[machine]\nkeytab = $AE_LAB_DIR/ws1.keytab\nprincipal = WS1\$@WRONG.TEST\n")
expect_fail "wrong realm: the machine ticket cannot be had, the principal is named" \
	'cannot get a ticket for WS1$@WRONG.TEST' \
	as_machine "$AUTOENROLL" policy --machine -c "$c"

c=$(conf badspn '[global]\nservers = 127.0.0.10\n')
expect_fail "DC named by address: the KDC refuses the SPN, advice names it" \
	"the KDC does not know the service principal" \
	as_user alice "$AUTOENROLL" policy -c "$c"
grep -q "ldap/127.0.0.10" "$TEST_TMP/err"; ok $? "the refused principal is named"

# A DC whose packets are silently dropped: bounded by ldap_timeout.
in_lab nft -f - <<'NFT'
table inet aetest {
	chain out {
		type filter hook output priority 0;
		ip daddr 127.0.0.14 drop
	}
}
NFT
ok $? "drop rule for 127.0.0.14 installed in the lab namespace"
c=$(conf dead '[global]\nservers = 127.0.0.14\nldap_timeout = 2\n')
start=$(date +%s.%N)
expect_fail "unreachable DC: timeout message names the setting" \
	"did not answer within 2 s (ldap_timeout in [global] of $c)" \
	as_user alice "$AUTOENROLL" policy -c "$c"
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
[ "$(echo "$elapsed < 8" | bc)" = 1 ]; ok $? "unreachable DC fails in bounded time (${elapsed}s with ldap_timeout = 2)"

c=$(conf failover '[global]\nservers = 127.0.0.14 dc1.corp.test\nldap_timeout = 2\n')
as_user alice "$AUTOENROLL" policy --json -c "$c" >"$TEST_TMP/failover.json" 2>"$TEST_TMP/err"
[ $? -eq 0 ] && [ "$(jq -r .policy_server.dc "$TEST_TMP/failover.json")" = dc1.corp.test ]
ok $? "an unreachable first DC: the next one is used"
in_lab nft delete table inet aetest

c=$(conf nokeytab '[machine]\nkeytab = /nonexistent/krb5.keytab\n')
expect_fail "machine context without keytab: clear message" \
	"cannot read the machine keytab /nonexistent/krb5.keytab (keytab in [machine])" \
	as_machine "$AUTOENROLL" policy --machine -c "$c"

c=$(conf badconf '[global]\nldap_timeout = soon\n')
expect_fail "bad configuration value: file, line and key" "$c:2: ldap_timeout in [global]" \
	as_user alice "$AUTOENROLL" policy -c "$c"
expect_fail "explicit configuration missing" "cannot read configuration /nonexistent.conf" \
	as_user alice "$AUTOENROLL" -c /nonexistent.conf policy

"$AUTOENROLL" policy --user --machine >/dev/null 2>&1
[ $? -eq 2 ]; ok $? "conflicting options: usage error (exit 2)"

# Malformed template attributes in AD (a newline in a displayName too):
# listed with the reason, the rest of the policy still works.
base="CN=Certificate Templates,CN=Public Key Services,CN=Services,$AE_LAB_CONFIG_NC"
ldif="dn: CN=LabBrokenPeriod,$base
objectClass: pKICertificateTemplate
cn: LabBrokenPeriod
flags: 131616
revision: 100
msPKI-Template-Schema-Version: 2
msPKI-Template-Minor-Revision: 0
pKIExpirationPeriod:: AEA5hy7h/g==

dn: CN=LabBrokenSchema,$base
objectClass: pKICertificateTemplate
cn: LabBrokenSchema
flags: 131616
revision: 100
msPKI-Template-Schema-Version: 7
msPKI-Template-Minor-Revision: 0

dn: CN=LabBrokenName,$base
objectClass: pKICertificateTemplate
cn: LabBrokenName
displayName:: $(printf 'Lab\nkey_uri = file:/etc/shadow' | base64 -w0)
flags: 131616
revision: 100
msPKI-Template-Schema-Version: 2
msPKI-Template-Minor-Revision: 0
"
cleanup_broken() {
	printf 'dn: CN=LabBrokenPeriod,%s\nchangetype: delete\n\ndn: CN=LabBrokenSchema,%s\nchangetype: delete\n\ndn: CN=LabBrokenName,%s\nchangetype: delete\n' "$base" "$base" "$base" |
		"$LABCTL" run --admin -- ldapmodify -Q -c -Y GSSAPI -H ldap://dc1.corp.test >/dev/null 2>&1
}
cleanup_broken
printf '%s' "$ldif" | "$LABCTL" run --admin -- ldapadd -Q -Y GSSAPI -H ldap://dc1.corp.test >"$TEST_TMP/add" 2>&1
ok $? "malformed templates written to AD"
as_user alice "$AUTOENROLL" policy --json >"$TEST_TMP/broken.json" 2>"$TEST_TMP/broken.err"
ok $? "policy still succeeds"
jq -r '.templates[] | select(.name=="LabBrokenPeriod") | .reason' "$TEST_TMP/broken.json" |
	grep -q "invalid template: .*pKIExpirationPeriod has 7 bytes; a FILETIME interval has 8"
ok $? "7-byte period: reason names the attribute"
jq -r '.templates[] | select(.name=="LabBrokenSchema") | .reason' "$TEST_TMP/broken.json" |
	grep -q "unknown msPKI-Template-Schema-Version 7"
ok $? "unknown schema version: reason says so"
jq -r '.templates[] | select(.name=="LabBrokenName") | .reason' "$TEST_TMP/broken.json" |
	grep -q "invalid template: .*displayName has a control character (0x0a at byte 3): refused, it could forge local records"
ok $? "a newline in a displayName from AD: refused, the attribute named" ||
	diag "$(jq -r '.templates[] | select(.name=="LabBrokenName")' "$TEST_TMP/broken.json")"
[ "$(jq -r '.templates[] | select(.name=="LabUser") | .decision' "$TEST_TMP/broken.json")" = autoenroll ]
ok $? "other templates unaffected"
grep -q "LabBrokenPeriod" "$TEST_TMP/broken.err"; ok $? "the bad template is logged"
cleanup_broken

done_testing
