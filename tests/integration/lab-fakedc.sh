#!/bin/bash
# lab-fakedc.sh - a domain controller must prove it is one (issue 19).
#
# alice, an ordinary user, creates a computer account FAKEDC$ (adcli join
# as alice: Samba 4.17 does not implement ms-DS-MachineAccountQuota, so an
# OU delegates the same right, "create computer objects", to her), gives it
# ldap/ SPNs and gets its keytab; she cannot make it trusted for delegation
# (the KDC's ok-as-delegate mark, which every DC has).  A fake LDAP server
# (fake-ldap-dc.py) completes sealed Kerberos binds with that keytab on
# fakedc.corp.test, and the lab's DNS sends the workstation's DC lookup
# (_ldap._tcp.dc._msdcs) there.  The machine pulse binds, refuses the
# session before reading anything, says why in its events (server,
# principal, the missing ok-as-delegate) and writes nothing: no trust
# directory, no record.  With dc1 listed after the fake, the pulse skips
# the fake and dc1 passes the same check.  The OU, the account, the DNS records and the address go
# back at the end (trap).
. "$(dirname "$0")/lib.sh"
lab_require
. <("$LABCTL" env)
DOM=${AE_LAB_DOMAIN_DN:-DC=corp,DC=test}
OU="OU=AEFakeDC,$DOM"
FAKE=fakedc.corp.test
FAKE_ADDR=127.0.0.19
SRV_DC="dc1.corp.test 389 0 100"
SRV_FAKE="$FAKE 389 0 100"
SRV_DC2="dc1.corp.test 389 10 100"

st() { # samba-tool as Administrator
	"$LABCTL" run --admin -- sh -c 'samba-tool "$@" -H ldap://dc1.corp.test --use-krb5-ccache="$KRB5CCNAME"' \
		samba-tool "$@"
}
dns() { # samba-tool dns as Administrator (the server is its first argument)
	"$LABCTL" run --admin -- sh -c 'samba-tool dns "$@" --use-krb5-ccache="$KRB5CCNAME"' samba-tool "$@"
}
srv() { # add|delete DATA: the DC locator record _ldap._tcp.dc._msdcs
	dns "$1" dc1.corp.test _msdcs.corp.test _ldap._tcp.dc SRV "$2"
}
restore() {
	srv add "$SRV_DC" >/dev/null 2>&1
	srv delete "$SRV_FAKE" >/dev/null 2>&1
	srv delete "$SRV_DC2" >/dev/null 2>&1
	dns delete dc1.corp.test corp.test fakedc A "$FAKE_ADDR" >/dev/null 2>&1
	st ou delete "$OU" --force-subtree-delete >/dev/null 2>&1
	in_lab ip addr del "$FAKE_ADDR/8" dev lo 2>/dev/null
}
# the fake server's own pid (it runs below labctl run and ip netns exec)
stop_fake() { local p; p=$(sed -n 's/^pid //p' "$TEST_TMP/fake.log" 2>/dev/null); [ -z "$p" ] || kill "$p" 2>/dev/null; }
trap 'stop_fake; restore; rm -rf "$TEST_TMP"' EXIT
restore

# ===== alice's computer account, with ldap/ SPNs =====
alice_sid=$("$LABCTL" run --admin -- ldapsearch -LLL -o ldif-wrap=no -Q -Y GSSAPI -H ldap://dc1.corp.test \
	-b "$DOM" '(sAMAccountName=alice)' objectSid | sed -n 's/^objectSid:: //p' |
	/usr/bin/python3 -c 'import sys,base64;from samba.dcerpc import security;from samba.ndr import ndr_unpack;print(ndr_unpack(security.dom_sid,base64.b64decode(sys.stdin.read())))')
{
	st ou add "$OU" &&
	# Create Child, computer objects (bf967a86-...: the computer class)
	st dsacl set --objectdn="$OU" --sddl="(OA;;CC;bf967a86-0de6-11d0-a285-00aa003049e2;;$alice_sid)" &&
	grep '^alice=' "$AE_LAB_DIR/passwords" | cut -d= -f2- | tr -d '\n' |
		in_lab adcli join --domain=corp.test --domain-realm=CORP.TEST --domain-controller="$AE_LAB_DC_ADDR" \
			--host-fqdn="$FAKE" --computer-name=FAKEDC --domain-ou="$OU" -U alice --stdin-password \
			--host-keytab="$TEST_TMP/fakedc.keytab" --service-name=ldap --service-name=host
} >"$TEST_TMP/setup.log" 2>&1
klist -k "$TEST_TMP/fakedc.keytab" 2>/dev/null | grep -q "ldap/$FAKE@"
ok $? "alice (Domain Users) creates FAKEDC\$ with the SPN ldap/$FAKE and its keytab" ||
	diag "$(tail -15 "$TEST_TMP/setup.log")"
printf 'dn: CN=FAKEDC,%s\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 528384\n' "$OU" |
	as_user alice ldapmodify -Q -Y GSSAPI -H ldap://dc1.corp.test >"$TEST_TMP/tfd.log" 2>&1
[ $? -ne 0 ] && grep -q "SeEnableDelegationPrivilege" "$TEST_TMP/tfd.log"
ok $? "she cannot make it trusted for delegation (SeEnableDelegationPrivilege)" || diag "$(cat "$TEST_TMP/tfd.log")"

# ===== the fake LDAP server, and DNS sending the workstation there =====
in_lab ip addr add "$FAKE_ADDR/8" dev lo
chmod 644 "$TEST_TMP/fakedc.keytab"
in_lab env KRB5_KTNAME="$TEST_TMP/fakedc.keytab" /usr/bin/python3 -B "$top_srcdir/tests/integration/fake-ldap-dc.py" \
	"$FAKE_ADDR" "$TEST_TMP/fake.log" </dev/null >"$TEST_TMP/fake.out" 2>&1 &
{
	dns add dc1.corp.test corp.test fakedc A "$FAKE_ADDR" &&
	srv add "$SRV_FAKE" &&
	srv delete "$SRV_DC"
} >"$TEST_TMP/dns.log" 2>&1
for _ in $(seq 50); do grep -q listening "$TEST_TMP/fake.log" 2>/dev/null && break; sleep 0.1; done
[ "$(in_lab dig +short SRV _ldap._tcp.dc._msdcs.corp.test)" = "0 100 389 $FAKE." ]
ok $? "the lab's DNS sends the DC lookup to $FAKE" || diag "$(cat "$TEST_TMP/dns.log")"

# ===== the machine pulse refuses it and writes nothing =====
cat >"$TEST_TMP/m.conf" <<CONF
[global]
domain = corp.test
ldap_timeout = 10
[machine]
keytab = $AE_LAB_DIR/ws1.keytab
state_dir = $TEST_TMP/m
trust_dir = $TEST_TMP/trust
cert_dir = none
aepolicy = 4
CONF
pulse() {
	as_machine env AUTOENROLL_LIBEXECDIR="$AE_BIN" "$AUTOENROLL" pulse --machine --wait --json --refresh \
		-c "$TEST_TMP/m.conf" >"$TEST_TMP/r.json" 2>"$TEST_TMP/r.err"
}
show() { diag "$(jq -c '[.events[] | {event, message}]' "$TEST_TMP/r.json" 2>/dev/null | head -c 2500)" \
	"$(head -c 800 "$TEST_TMP/r.err")" "$(cat "$TEST_TMP/fake.log" 2>/dev/null)"; }
pulse
rc=$?
[ $rc -eq 1 ] && jq -e '.ok == false' "$TEST_TMP/r.json" >/dev/null
ok $? "the machine pulse fails" || { diag "rc=$rc"; show; }
grep -q '^bound GSS-SPNEGO WS1[$]@CORP.TEST' "$TEST_TMP/fake.log"
ok $? "... after a sealed Kerberos bind the fake server completed (its key is real)" || show
jq -e --arg p "ldap/$FAKE@CORP.TEST" '[.events[] | select(.event == "policy-load-failed" or .event == "pulse-failed") |
	.message | select(test("fakedc.corp.test is not a domain controller") and contains($p) and test("ok-as-delegate"))] |
	length == 2' "$TEST_TMP/r.json" >/dev/null
ok $? "its events say why: the server, the principal, the missing ok-as-delegate flag" || show
[ "$(grep -c "^sealed request" "$TEST_TMP/fake.log")" -le 1 ]
ok $? "... and nothing was asked of it after the bind but the unbind" || show
[ ! -e "$TEST_TMP/trust" ] && [ -z "$(ls "$TEST_TMP/m/machine"/*/ 2>/dev/null)" ] &&
	[ "$("$AUTOENROLL" status --machine --json -c "$TEST_TMP/m.conf" 2>/dev/null | jq '[.. | objects | select(has("template"))] | length')" = 0 ]
ok $? "nothing written: no trust directory, no record" || { ls -R "$TEST_TMP/m" "$TEST_TMP/trust" 2>&1 | head -20; }

as_user alice "$AUTOENROLL" policy >/dev/null 2>"$TEST_TMP/alice.err"
[ $? -eq 1 ] && grep -q "fakedc.corp.test is not a domain controller" "$TEST_TMP/alice.err"
ok $? "a user's session refuses it the same way" || diag "$(cat "$TEST_TMP/alice.err")"

# ===== the real DC passes the same check =====
# Both in DNS, the fake first (priority 0, dc1 at 10): it is skipped, dc1
# serves the pulse.
srv add "$SRV_DC2" >>"$TEST_TMP/dns.log" 2>&1
pulse
rc=$?
[ $rc -eq 0 ] && [ -s "$TEST_TMP/trust/roots.pem" ] &&
	jq -e '[.events[] | select(.event == "trust-updated")] | length == 1' "$TEST_TMP/r.json" >/dev/null
ok $? "with dc1 in DNS after it, the pulse passes the check against dc1 and writes the trust from AD" ||
	{ diag "rc=$rc"; show; }
[ "$(grep -c '^bound GSS-SPNEGO WS1[$]@' "$TEST_TMP/fake.log")" = 2 ]
ok $? "... after binding to $FAKE first and leaving it" || show

done_testing
