#!/bin/bash
# lab-cep.sh - policy from a CEP (MS-XCEP) and enrollment through its CES
# (MS-WSTEP), driven by the pulse with only the CEP URL configured
# (policy_servers): alice and the machine enroll with Kerberos, the
# answer is cached for nextUpdateHours and then revalidated with
# lastUpdate, a renewal goes over the CES signed with the old key, and a
# cheaper CES URI or policy server that hangs fails over to the next
# within rpc_timeout; alice, as a host outside the domain (no Kerberos
# ticket), with user name and password (WS-Security UsernameToken over
# TLS, the password in a file), then with her certificate for TLS client
# authentication; Extended Protection (the channel binding in the Kerberos
# authenticator, and a clear refusal without it); renewal-only (key-based)
# renewal by hand and from the policy of the CEP in key-based renewal mode.
# The services stop at the end (labctl ces
# down).
. "$(dirname "$0")/lib.sh"
lab_require
. <("$LABCTL" env)
cleanup_all() {
	"$LABCTL" ces-epa off >/dev/null 2>&1
	"$LABCTL" ces-uris default >/dev/null 2>&1
	"$LABCTL" ces down >/dev/null 2>&1
	rm -rf "$TEST_TMP"
}
trap cleanup_all EXIT

"$LABCTL" ces up >"$TEST_TMP/ces.log" 2>&1 && "$LABCTL" ces-uris default >/dev/null && "$LABCTL" ces-epa off >/dev/null
ok $? "labctl ces up" || diag "$(cat "$TEST_TMP/ces.log")"
# The roots a machine took from AD (the trust directory), as a host that
# gets its policy from a CEP has them.
mkdir -p "$TEST_TMP/trust"
cp "$AE_LAB_DIR/pki/root.pem" "$TEST_TMP/trust/roots.pem"
conf() { # conf NAME RPC_TIMEOUT POLICY_SERVERS...
	local n=$1 t=$2; shift 2
	cat >"$TEST_TMP/$n.conf" <<CONF
[global]
policy_refresh = 0
rpc_timeout = $t
[user]
state_dir = $TEST_TMP/$n/user
policy_servers = $*
[machine]
keytab = $AE_LAB_DIR/ws1.keytab
state_dir = $TEST_TMP/$n/machine
trust_dir = $TEST_TMP/trust
policy_servers = $*
CONF
}
conf c 10 "$AE_LAB_CEP_URL"
share_tmp
CALOG=$AE_LAB_DIR/ca/requests.log
mark() { wc -l <"$CALOG"; }
since() { tail -n +$(($1 + 1)) "$CALOG"; }
pulse() { # pulse alice|--machine CONF [OFFSET]: JSON in r.json
	local who=$1 c=$2 off=${3:-0}
	if [ "$who" = --machine ]; then
		as_machine env AUTOENROLL_LIBEXECDIR="$AE_BIN" AE_TEST_NOW_OFFSET="$off" "$AUTOENROLL" pulse --machine \
			--wait --json -c "$TEST_TMP/$c.conf" >"$TEST_TMP/r.json" 2>"$TEST_TMP/r.err"
	else
		as_user "$who" env AUTOENROLL_LIBEXECDIR="$AE_BIN" AE_TEST_NOW_OFFSET="$off" "$AUTOENROLL" pulse --user \
			--wait --json -c "$TEST_TMP/$c.conf" >"$TEST_TMP/r.json" 2>"$TEST_TMP/r.err"
	fi
}
ev() { jq -r --arg e "$1" --arg t "${2:-}" '[.events[] | select(.event==$e and ($t=="" or .template==$t))] | length' "$TEST_TMP/r.json"; }
show() { diag "$(jq -c '[.events[] | {event, template, message}]' "$TEST_TMP/r.json" 2>/dev/null | head -c 2500)" "$(tail -5 "$TEST_TMP/r.err")"; }

# --- autoenroll policy --policy-server URL (like certreq -policyserver)
as_user alice "$AUTOENROLL" policy --json --policy-server "$AE_LAB_CEP_URL" -c "$TEST_TMP/c.conf" \
	>"$TEST_TMP/p.json" 2>"$TEST_TMP/err"
jq -e --arg u "$AE_LAB_CEP_URL" --arg ces "$AE_LAB_CES_URL" --arg id "$(cat "$AE_LAB_DIR/ces/policy-id")" '
	.policy_server.url == $u and .policy_server.policy_id == $id and .policy_server.next_update_hours == 8 and
	.policy_server.filtered_by_server and
	(.cas | length == 1 and .[0].name == "CORP-CA1" and .[0].valid and .[0].transport == "MS-WSTEP" and .[0].url == $ces) and
	([.templates[] | select(.name == "LabUser")][0] | .decision == "autoenroll" and .enroll and .autoenroll) and
	([.templates[] | select(.name == "User")][0] | .decision == "skip" and (.reason | test("AutoEnroll right.*as the policy server reports it"))) and
	([.templates[] | select(.name == "LabECDSA")][0] | .key_algorithm == "ECDSA_P256") and
	([.templates[] | select(.name == "LabMachine")] | length == 0)' "$TEST_TMP/p.json" >/dev/null
ok $? "policy --policy-server CEP as alice: policy ID, CORP-CA1 valid with its CES URI, LabUser autoenroll, User without AutoEnroll (the server's word), no machine template" ||
	diag "$(jq -c '.policy_server, .cas' "$TEST_TMP/p.json" 2>/dev/null | head -c 1500)" "$(tail -3 "$TEST_TMP/err")"
as_user alice "$AUTOENROLL" policy -c "$TEST_TMP/c.conf" >"$TEST_TMP/p.txt" 2>&1
grep -q "no security descriptor over MS-XCEP" "$TEST_TMP/p.txt" && grep -q "lists only the templates the caller" "$TEST_TMP/p.txt"
ok $? "autoenroll policy says the server filters by the caller and reports the rights itself" || diag "$(head -8 "$TEST_TMP/p.txt")"
# the same decisions as from AD, for the templates both list
as_user alice "$AUTOENROLL" policy --json -c "$AE_LAB_AUTOENROLL_CONF" >"$TEST_TMP/l.json" 2>/dev/null
jq -n --slurpfile x "$TEST_TMP/p.json" --slurpfile l "$TEST_TMP/l.json" -e '
	($x[0].templates | map({(.name): .decision}) | add) as $a |
	[$l[0].templates[] | select($a[.name] != null and ((.name | test("^Lab(Archive|Encrypt)$")) | not)) |
	 select($a[.name] != .decision) | .name] | length == 0' >/dev/null
ok $? "every template the CEP lists has the decision the LDAP policy gives it" ||
	diag "$(jq -c '[.templates[] | {name, decision}]' "$TEST_TMP/p.json" | head -c 800)"

# --- alice's pulse with only the CEP URL configured: policy and enrollment over HTTPS
a0=$(mark)
pulse alice c
[ $? -le 3 ] && [ "$(ev enrolled LabUser)" = 1 ]
ok $? "alice's pulse (policy_servers = the CEP URL): LabUser enrolled" || show
since "$a0" | jq -s -e 'length > 0 and all(.transport == "wstep" and .caller == "alice@CORP.TEST")' >/dev/null
ok $? "every request of the pulse went through the CES as alice ($(since "$a0" | wc -l) requests)"
jq -e '.ldap_round_trips == 0' "$TEST_TMP/r.json" >/dev/null
ok $? "no round trip for the policy: the CEP's answer that autoenroll policy kept is fresh (nextUpdateHours)" ||
	diag "$(jq -c 'del(.events)' "$TEST_TMP/r.json")"
ls "$TEST_TMP/c/user"/cep-*.xml >/dev/null 2>&1 && [ "$(stat -c %a "$TEST_TMP"/c/user/cep-*.xml)" = 600 ]
ok $? "the CEP's answer is kept in the state directory (0600)"

# --- nextUpdateHours: a second pulse reuses it; 9 h later, lastUpdate: not changed
n0=$(grep -c 'GetPolicies' "$AE_LAB_DIR/ces/ces.log")
pulse alice c
[ "$(grep -c 'GetPolicies' "$AE_LAB_DIR/ces/ces.log")" = "$n0" ] && [ "$(ev enrolled)" = 0 ]
ok $? "a pulse within nextUpdateHours asks the CEP nothing and enrolls nothing new" || show
u0=$(grep -c 'GetPolicies -> .* (not changed)' "$AE_LAB_DIR/ces/ces.log")
pulse alice c $((9 * 3600))
[ "$(grep -c 'GetPolicies -> .* (not changed)' "$AE_LAB_DIR/ces/ces.log")" = $((u0 + 1)) ] && [ "$(ev enrolled)" = 0 ] &&
	jq -e '.ok' "$TEST_TMP/r.json" >/dev/null
ok $? "9 h later: GetPolicies with lastUpdate, policiesNotChanged, the cached policy applies" ||
	{ show; diag "$(tail -3 "$AE_LAB_DIR/ces/ces.log")"; }

# --- renewal over the CES, signed with the old key (LabShort: 1 day, 2 h renewal period)
r0=$(mark)
pulse alice c $((86400 * 95 / 100))
[ "$(ev renewed LabShort)" = 1 ] && since "$r0" | jq -s -e '[.[] | select(.template == "LabShort")] |
	length == 1 and .[0].transport == "wstep" and .[0].request_type == "renewal" and .[0].hresult == 0' >/dev/null
ok $? "at 95 % of LabShort's lifetime the pulse renews it over the CES, signed with the old key" ||
	{ show; since "$r0" | jq -c '{template, transport, request_type, hresult}'; }

# --- the machine, from its keytab
m0=$(mark)
pulse --machine c
[ $? -le 3 ] && [ "$(ev enrolled LabMachine)" = 1 ] &&
	since "$m0" | jq -s -e '[.[] | select(.template == "LabMachine")] | length == 1 and .[0].transport == "wstep" and
		.[0].caller == "WS1$@CORP.TEST"' >/dev/null
ok $? "the machine's pulse (keytab of WS1\$): LabMachine enrolled through the CES" || show
[ -z "$(ls "$TEST_TMP/trust" | grep -v '^roots.pem$')" ] && cmp -s "$TEST_TMP/trust/roots.pem" "$AE_LAB_DIR/pki/root.pem"
ok $? "a policy without LDAP: leaves the trust directory as it was"

# --- failover: the cheaper CES URI hangs; the next one within rpc_timeout
"$LABCTL" ces-uris "0:https://ces.corp.test:9443/CORP-CA1_CES_Kerberos/service.svc/CES" >/dev/null
conf f 3 "$AE_LAB_CEP_URL"
share_tmp
f0=$(mark)
start=$(date +%s)
as_user bob "$AUTOENROLL" enroll --template LabUser -v -c "$TEST_TMP/f.conf" >"$TEST_TMP/o.txt" 2>&1
rc=$?
took=$(($(date +%s) - start))
[ $rc = 0 ] && [ "$took" -lt 8 ] && grep -q 'trying the next CES URI https://ces.corp.test/' "$TEST_TMP/o.txt" &&
	since "$f0" | jq -s -e 'length == 1 and .[0].transport == "wstep" and .[0].caller == "bob@CORP.TEST"' >/dev/null
ok $? "two CES URIs, the cheaper (priority 0) hangs: bob's LabUser through the other in ${took} s (rpc_timeout 3)" ||
	diag "rc=$rc" "$(tail -5 "$TEST_TMP/o.txt")"
"$LABCTL" ces-uris default >/dev/null

# --- failover between policy servers: a cheaper CEP that hangs, by cost
conf g 3 "https://ces.corp.test:9443/ADPolicyProvider_CEP_Kerberos/service.svc/CEP@5" "$AE_LAB_CEP_URL@50"
share_tmp
start=$(date +%s)
as_user bob "$AUTOENROLL" policy --json -c "$TEST_TMP/g.conf" >"$TEST_TMP/g.json" 2>"$TEST_TMP/err"
took=$(($(date +%s) - start))
jq -e --arg u "$AE_LAB_CEP_URL" '.policy_server.url == $u and (.policy_server.failover | test("9443"))' \
	"$TEST_TMP/g.json" >/dev/null && [ "$took" -lt 15 ]
ok $? "two policy servers, the cheaper hangs: the policy from the next one in ${took} s, the failover reported" ||
	diag "$(jq -c .policy_server "$TEST_TMP/g.json" 2>/dev/null)" "$(tail -3 "$TEST_TMP/err")"
# LDAP: keeps its place: cheapest, its CA reached over MS-ICPR
conf h 10 "LDAP:@0" "$AE_LAB_CEP_URL@10"
as_user bob "$AUTOENROLL" policy --json -c "$TEST_TMP/h.conf" >"$TEST_TMP/h.json" 2>"$TEST_TMP/err"
jq -e '.policy_server.url == "LDAP:" and ([.cas[] | select(.name == "CORP-CA1")][0].transport == "MS-ICPR")' \
	"$TEST_TMP/h.json" >/dev/null
ok $? "LDAP: first by cost, then the CEP: the policy is AD's, CORP-CA1 over MS-ICPR" ||
	diag "$(jq -c '.policy_server, [.cas[] | {name, transport}]' "$TEST_TMP/h.json" 2>/dev/null)" "$(tail -3 "$TEST_TMP/err")"

# --- Extended Protection: the Kerberos authenticator carries the TLS channel binding
"$LABCTL" ces-epa on >/dev/null
conf x 10 "$AE_LAB_CEP_URL"
share_tmp
x0=$(mark)
as_user bob "$AUTOENROLL" enroll --template LabUser -c "$TEST_TMP/x.conf" >"$TEST_TMP/o.txt" 2>&1 &&
	since "$x0" | jq -s -e 'length == 1 and .[0].caller == "bob@CORP.TEST" and .[0].transport == "wstep"' >/dev/null
ok $? "Extended Protection on: policy and enrollment with Kerberos bound to the TLS channel (tls-server-end-point)" ||
	diag "$(cat "$TEST_TMP/o.txt")" "$(tail -3 "$AE_LAB_DIR/ces/ces.log")"
conf y 10 "$AE_LAB_CEP_URL"
sed -i 's/^rpc_timeout = 10$/rpc_timeout = 10\ncep_channel_binding = no/' "$TEST_TMP/y.conf"
share_tmp
as_user bob "$AUTOENROLL" enroll --template LabUser -c "$TEST_TMP/y.conf" >"$TEST_TMP/o.txt" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "the CEP at $AE_LAB_CEP_URL refused the Kerberos authentication" "$TEST_TMP/o.txt" &&
	grep -q "Extended Protection, and cep_channel_binding = no" "$TEST_TMP/o.txt" &&
	tail -5 "$AE_LAB_DIR/ces/ces.log" | grep -q "the authenticator carries no channel binding"
ok $? "Extended Protection on, cep_channel_binding = no: refused, and the message says why" || diag "rc=$rc" "$(cat "$TEST_TMP/o.txt")"
"$LABCTL" ces-epa off >/dev/null

# --- alice as a host outside the domain: user name and password, no ticket
UP_CEP=https://ces.corp.test/ADPolicyProvider_CEP_UsernamePassword/service.svc/CEP
grep '^alice=' "$AE_LAB_PASSWORDS" | cut -d= -f2- >"$TEST_TMP/alice.pw"
chmod 600 "$TEST_TMP/alice.pw"
echo wrong-password >"$TEST_TMP/wrong.pw"
chmod 600 "$TEST_TMP/wrong.pw"
pwconf() { # pwconf NAME PASSWORD_FILE
	cat >"$TEST_TMP/$1.conf" <<CONF
[global]
policy_refresh = 0
rpc_timeout = 10
cep_username = CORP\\alice
cep_password_file = $2
[user]
state_dir = $TEST_TMP/$1/user
policy_servers = $UP_CEP
[machine]
trust_dir = $TEST_TMP/trust
CONF
}
pwconf u "$TEST_TMP/alice.pw"
! grep -q "$(cat "$TEST_TMP/alice.pw")" "$TEST_TMP/u.conf"
ok $? "the password is in its own file, not in the configuration"
u0=$(mark)
in_lab env KRB5CCNAME=FILE:/nonexistent AUTOENROLL_LIBEXECDIR="$AE_BIN" "$AUTOENROLL" pulse --user --wait --json \
	-c "$TEST_TMP/u.conf" >"$TEST_TMP/r.json" 2>"$TEST_TMP/r.err"
[ "$(ev enrolled LabUser)" = 1 ] && since "$u0" | jq -s -e 'length > 0 and all(.transport == "wstep" and .caller == "alice@CORP.TEST")' >/dev/null &&
	tail -40 "$AE_LAB_DIR/ces/ces.log" | grep -q 'POST /CORP-CA1_CES_UsernamePassword/service.svc/CES'
ok $? "no ticket, user name and password: alice's pulse gets the policy from the UsernamePassword CEP and enrolls LabUser through its CES" || show
pwconf w "$TEST_TMP/wrong.pw"
in_lab env KRB5CCNAME=FILE:/nonexistent "$AUTOENROLL" policy -c "$TEST_TMP/w.conf" >"$TEST_TMP/o.txt" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q 'refused the user name and password of CORP\\alice' "$TEST_TMP/o.txt" && grep -q "$UP_CEP" "$TEST_TMP/o.txt"
ok $? "a wrong password: refused, the message names the server, the user and where the password comes from" || diag "$(cat "$TEST_TMP/o.txt")"
chmod 644 "$TEST_TMP/wrong.pw"
in_lab env KRB5CCNAME=FILE:/nonexistent "$AUTOENROLL" policy -c "$TEST_TMP/w.conf" >"$TEST_TMP/o.txt" 2>&1
[ $? -ne 0 ] && grep -q 'mode 0600 or 0400' "$TEST_TMP/o.txt"
ok $? "a password file others can read: refused" || diag "$(cat "$TEST_TMP/o.txt")"

# --- the password from pinentry (cep_password = pinentry): asked once in
# an interactive enroll (the CEP and then the CES), never in the pulse
install -d -m 700 "$TEST_TMP/pe"
install -m 755 "$top_srcdir/tests/data/pinentry-standin" "$TEST_TMP/pe/pinentry-standin"
printf 'STANDIN_LOG=%s/pe/log\nSTANDIN_PINS=%s\n' "$TEST_TMP" "$(cat "$TEST_TMP/alice.pw")" >"$TEST_TMP/pe/standin.env"
sed -e 's|^cep_password_file = .*|cep_password = pinentry|' \
	-e "s|^state_dir = .*|state_dir = $TEST_TMP/p/user\npinentry = $TEST_TMP/pe/pinentry-standin|" "$TEST_TMP/u.conf" >"$TEST_TMP/p.conf"
p0=$(mark)
in_lab env KRB5CCNAME=FILE:/nonexistent "$AUTOENROLL" enroll --template LabShort -c "$TEST_TMP/p.conf" >"$TEST_TMP/o.txt" 2>&1 &&
	since "$p0" | jq -s -e 'length == 1 and .[0].transport == "wstep" and .[0].caller == "alice@CORP.TEST"' >/dev/null &&
	[ "$(grep -c '^GETPIN$' "$TEST_TMP/pe/log")" = 1 ] && grep '^SETDESC' "$TEST_TMP/pe/log" | grep -q 'alice' &&
	! grep -q "$(cat "$TEST_TMP/alice.pw")" "$TEST_TMP/pe/log" "$TEST_TMP/p.conf"
ok $? "cep_password = pinentry: enroll asks the PIN dialog once for alice's password, the CEP and the CES take it" ||
	diag "$(cat "$TEST_TMP/o.txt")" "$(cat "$TEST_TMP/pe/log")"
in_lab env KRB5CCNAME=FILE:/nonexistent AUTOENROLL_LIBEXECDIR="$AE_BIN" "$AUTOENROLL" pulse --user --wait --json \
	-c "$TEST_TMP/p.conf" >"$TEST_TMP/o.txt" 2>&1
grep -q 'interactive runs only.*never in the background pulse' "$TEST_TMP/o.txt" && [ "$(grep -c '^GETPIN$' "$TEST_TMP/pe/log")" = 1 ]
ok $? "... and the background pulse asks nothing: its skip reason says the password is asked in interactive runs only" ||
	diag "$(cat "$TEST_TMP/o.txt")"

# --- a TLS client certificate: alice's LabUser certificate from her first pulse
install -m 600 "$TEST_TMP/c/user/live/LabUser/key.pem" "$TEST_TMP/alice-key.pem"
cat >"$TEST_TMP/k.conf" <<CONF
[global]
policy_refresh = 0
rpc_timeout = 10
cep_client_cert = $TEST_TMP/c/user/live/LabUser/fullchain.pem
cep_client_key = $TEST_TMP/alice-key.pem
[user]
state_dir = $TEST_TMP/k/user
policy_servers = https://ces.corp.test/ADPolicyProvider_CEP_Certificate/service.svc/CEP
[machine]
trust_dir = $TEST_TMP/trust
CONF
k0=$(mark)
in_lab env KRB5CCNAME=FILE:/nonexistent "$AUTOENROLL" enroll --template LabShort -c "$TEST_TMP/k.conf" >"$TEST_TMP/o.txt" 2>&1 &&
	since "$k0" | jq -s -e 'length == 1 and .[0].transport == "wstep" and .[0].caller == "alice@CORP.TEST" and .[0].template == "LabShort"' >/dev/null &&
	tail -3 "$AE_LAB_DIR/ces/ces.log" | grep -q 'POST /CORP-CA1_CES_Certificate/service.svc/CES'
ok $? "no ticket, alice's certificate for TLS client authentication: LabShort through the Certificate CEP and CES, as alice" ||
	diag "$(cat "$TEST_TMP/o.txt")" "$(tail -3 "$AE_LAB_DIR/ces/ces.log")"



# --- renewal-only (key-based renewal, MS-XCEP renewalOnly): alice's
# LabShort from above renewed through the renewal-only CES, the TLS client
# authenticated by the certificate being renewed (not cep_client_cert,
# which only fetches the policy here); a new request there is refused
KBR=https://ces.corp.test/KeyBasedRenewal_CORP-CA1_CES_Certificate/service.svc/CES
rid=$(in_lab env KRB5CCNAME=FILE:/nonexistent "$AUTOENROLL" status --json -c "$TEST_TMP/k.conf" 2>/dev/null |
	jq -r '.records[] | select(.template == "LabShort" and .state == "issued") | .id' | head -1)
serial=$(openssl x509 -in "$TEST_TMP/k/user/certs/$rid.pem" -noout -serial 2>/dev/null | cut -d= -f2 | tr A-F a-f | sed 's/^0*//')
r0=$(mark)
in_lab env KRB5CCNAME=FILE:/nonexistent "$AUTOENROLL" enroll --renew "$rid" --ces "$KBR" --renewal-only \
	-c "$TEST_TMP/k.conf" >"$TEST_TMP/o.txt" 2>&1 &&
	since "$r0" | jq -s -e --arg s "$serial" 'length == 1 and .[0].caller == "alice@CORP.TEST" and
		.[0].request_type == "renewal" and .[0].renewed_serial == $s and .[0].disposition == 3' >/dev/null &&
	tail -6 "$AE_LAB_DIR/ces/ces.log" | grep -q "renewal-only CES, client certificate serial $serial"
ok $? "renewal-only CES: alice renews LabShort, authenticated by the certificate being renewed and signed with its key" ||
	diag "$rid $serial" "$(cat "$TEST_TMP/o.txt")" "$(tail -6 "$AE_LAB_DIR/ces/ces.log")"
# the renewed certificate (the current LabShort) tries a new enrollment there
nid=$(in_lab env KRB5CCNAME=FILE:/nonexistent "$AUTOENROLL" status --json -c "$TEST_TMP/k.conf" 2>/dev/null |
	jq -r '.records[] | select(.template == "LabShort" and .state == "issued") | .id' | head -1)
sed -e "s|^cep_client_cert = .*|cep_client_cert = $TEST_TMP/k/user/certs/$nid.pem|" \
	-e "s|^cep_client_key = .*|cep_client_key = $TEST_TMP/k/user/keys/$nid.key|" "$TEST_TMP/k.conf" >"$TEST_TMP/n.conf"
n0=$(mark)
in_lab env KRB5CCNAME=FILE:/nonexistent "$AUTOENROLL" enroll --template LabShort --ces "$KBR" \
	-c "$TEST_TMP/n.conf" >"$TEST_TMP/o.txt" 2>&1
[ $? -ne 0 ] && grep -q 'accepts only renewal requests' "$TEST_TMP/o.txt" &&
	since "$n0" | jq -s -e 'length == 1 and .[0].renewal_only == true and .[0].hresult == 2147942405' >/dev/null
ok $? "renewal-only CES: a new enrollment with the same certificate is refused, and the message says why" ||
	diag "$(cat "$TEST_TMP/o.txt")"
# --- renewal-only URIs from the policy (MS-XCEP renewalOnly): the CEP in
# key-based renewal mode lists CORP-CA1's renewal-only CES alone; alice's
# pulse (no ticket; her LabUser certificate only fetches the policy)
# renews the LabShort above once due through it, the TLS client
# authenticated by the LabShort being renewed; no new request goes there
KCEP=https://ces.corp.test/KeyBasedRenewal_ADPolicyProvider_CEP_Certificate/service.svc/CEP
sed "s|^policy_servers = .*|policy_servers = $KCEP|" "$TEST_TMP/k.conf" >"$TEST_TMP/kb.conf"
in_lab env KRB5CCNAME=FILE:/nonexistent "$AUTOENROLL" policy --json -c "$TEST_TMP/kb.conf" >"$TEST_TMP/p.json" 2>"$TEST_TMP/err" &&
	in_lab env KRB5CCNAME=FILE:/nonexistent "$AUTOENROLL" policy -c "$TEST_TMP/kb.conf" >"$TEST_TMP/p.txt" 2>&1
jq -e --arg k "$KBR" '.cas | length == 1 and .[0].url == null and .[0].renewal_only_urls == [$k] and .[0].valid and
	.[0].transport == "MS-WSTEP"' "$TEST_TMP/p.json" >/dev/null && grep -q "renewal-only CES $KBR" "$TEST_TMP/p.txt"
ok $? "policy from the key-based renewal CEP: CORP-CA1 with only its renewal-only CES URI, shown as such (text and --json)" ||
	diag "$(jq -c .cas "$TEST_TMP/p.json" 2>/dev/null | head -c 800)" "$(tail -3 "$TEST_TMP/err")"
nserial=$(openssl x509 -in "$TEST_TMP/k/user/certs/$nid.pem" -noout -serial 2>/dev/null | cut -d= -f2 | tr A-F a-f | sed 's/^0*//')
b0=$(mark)
l0=$(wc -l <"$AE_LAB_DIR/ces/ces.log")
in_lab env KRB5CCNAME=FILE:/nonexistent AUTOENROLL_LIBEXECDIR="$AE_BIN" AE_TEST_NOW_OFFSET=$((86400 * 95 / 100)) \
	"$AUTOENROLL" pulse --user --wait --json -c "$TEST_TMP/kb.conf" >"$TEST_TMP/r.json" 2>"$TEST_TMP/r.err"
[ "$(ev renewed LabShort)" = 1 ] && [ "$(ev enrolled)" = 0 ] &&
	jq -e '[.events[] | select(.template == "LabUser" and .event == "skipped")][0].message | test("only through renewal-only CES URIs")' \
		"$TEST_TMP/r.json" >/dev/null &&
	since "$b0" | jq -s -e --arg s "$nserial" 'length == 1 and .[0].template == "LabShort" and .[0].caller == "alice@CORP.TEST" and
		.[0].request_type == "renewal" and .[0].renewed_serial == $s and .[0].disposition == 3' >/dev/null &&
	tail -n +$((l0 + 1)) "$AE_LAB_DIR/ces/ces.log" | grep -q "renewal-only CES, client certificate serial $nserial" &&
	! tail -n +$((l0 + 1)) "$AE_LAB_DIR/ces/ces.log" | grep -q "renewal-only CES refuses"
ok $? "a pulse with only the key-based renewal CEP: LabShort renewed through the renewal-only CES, authenticated by the certificate being renewed; nothing new sent there" ||
	{ show; diag "$nid $nserial" "$(tail -n +$((l0 + 1)) "$AE_LAB_DIR/ces/ces.log" | grep -v ' https ' | tail -5)"; }
# --- the client key on a PKCS#11 token (SoftHSM2): LabShort enrolled as
# above into a token, then its certificate and key.uri authenticate the
# next enrollment (the key never leaves the token: signed by C_Sign);
# then the certificate from the token too, and its PIN from pinentry
if [ -e /usr/lib/softhsm/libsofthsm2.so ]; then
	softhsm_token ae-cep && install -d -m 700 "$TEST_TMP/h" "$TEST_TMP/h/user" "$TEST_TMP/t" "$TEST_TMP/t/user"
	sed "s|^state_dir = .*|state_dir = $TEST_TMP/h/user\nstore = pkcs11:token=ae-cep;module-path=$MODULE?pin-source=$TEST_TMP/pin|" \
		"$TEST_TMP/k.conf" >"$TEST_TMP/h.conf"
	in_lab env KRB5CCNAME=FILE:/nonexistent "$AUTOENROLL" enroll --template LabShort -c "$TEST_TMP/h.conf" >"$TEST_TMP/o.txt" 2>&1
	uri=$(sed -n 's/^ *key *\(pkcs11:.*\)$/\1/p' "$TEST_TMP/o.txt")
	hid=$(sed -n 's/^ *store .*(id \([0-9a-f]*\))$/\1/p' "$TEST_TMP/o.txt")
	case $uri in pkcs11:*token=ae-cep*) [ -s "$TEST_TMP/h/user/certs/$hid.pem" ] ;; *) false ;; esac
	ok $? "LabShort with its key on the SoftHSM2 token" || diag "$(cat "$TEST_TMP/o.txt")"
	sed -e "s|^cep_client_cert = .*|cep_client_cert = $TEST_TMP/h/user/certs/$hid.pem|" \
		-e "s|^cep_client_key = .*|cep_client_key = $uri;module-path=$MODULE?pin-source=$TEST_TMP/pin|" \
		-e "s|^state_dir = .*|state_dir = $TEST_TMP/t/user|" "$TEST_TMP/k.conf" >"$TEST_TMP/t.conf"
	t0=$(mark)
	in_lab env KRB5CCNAME=FILE:/nonexistent "$AUTOENROLL" enroll --template LabShort -c "$TEST_TMP/t.conf" >"$TEST_TMP/o.txt" 2>&1 &&
		since "$t0" | jq -s -e 'length == 1 and .[0].transport == "wstep" and .[0].caller == "alice@CORP.TEST"' >/dev/null &&
		tail -3 "$AE_LAB_DIR/ces/ces.log" | grep -q 'POST /CORP-CA1_CES_Certificate/service.svc/CES' &&
		[ -z "$(ls "$TEST_TMP/h/user/keys" 2>/dev/null)" ]
	ok $? "cep_client_key = the token's key URI: TLS client authentication signed on the token, through the Certificate CEP and CES, as alice" ||
		diag "$(cat "$TEST_TMP/o.txt")" "$(tail -3 "$AE_LAB_DIR/ces/ces.log")"
	# the certificate from the token too (the object with the key's CKA_ID): no PEM file
	sed -i "s|^cep_client_cert = .*|cep_client_cert = $uri;module-path=$MODULE|" "$TEST_TMP/t.conf"
	t0=$(mark)
	in_lab env KRB5CCNAME=FILE:/nonexistent "$AUTOENROLL" enroll --template LabShort -c "$TEST_TMP/t.conf" >"$TEST_TMP/o.txt" 2>&1 &&
		since "$t0" | jq -s -e 'length == 1 and .[0].transport == "wstep" and .[0].caller == "alice@CORP.TEST"' >/dev/null &&
		tail -3 "$AE_LAB_DIR/ces/ces.log" | grep -q 'POST /CORP-CA1_CES_Certificate/service.svc/CES' &&
		! grep -q '\.pem' "$TEST_TMP/t.conf"
	ok $? "cep_client_cert = the token URI: certificate and key both from the token, no PEM file, through the Certificate CEP and CES" ||
		diag "$(cat "$TEST_TMP/o.txt")" "$(tail -3 "$AE_LAB_DIR/ces/ces.log")"
	# no pin-source= and no cep_client_cert: enroll asks the token PIN through pinentry; the pulse never asks
	install -d -m 700 "$TEST_TMP/tp"
	install -m 755 "$top_srcdir/tests/data/pinentry-standin" "$TEST_TMP/tp/pinentry-standin"
	printf 'STANDIN_LOG=%s/tp/log\nSTANDIN_PINS=%s\n' "$TEST_TMP" "$(cat "$TEST_TMP/pin")" >"$TEST_TMP/tp/standin.env"
	sed -e '/^cep_client_cert = /d' -e "s|^cep_client_key = .*|cep_client_key = $uri;module-path=$MODULE|" \
		-e "s|^state_dir = .*|&\npinentry = $TEST_TMP/tp/pinentry-standin|" "$TEST_TMP/t.conf" >"$TEST_TMP/tp.conf"
	t0=$(mark)
	in_lab env KRB5CCNAME=FILE:/nonexistent "$AUTOENROLL" enroll --template LabShort -c "$TEST_TMP/tp.conf" >"$TEST_TMP/o.txt" 2>&1 &&
		since "$t0" | jq -s -e 'length == 1 and .[0].transport == "wstep" and .[0].caller == "alice@CORP.TEST"' >/dev/null &&
		[ "$(grep -c '^GETPIN$' "$TEST_TMP/tp/log")" = 1 ] && grep '^SETDESC' "$TEST_TMP/tp/log" | grep -q 'ae-cep'
	ok $? "a token key without pin-source=: enroll asks its PIN through pinentry once (the CEP and the CES share the login), certificate and key from the token" ||
		diag "$(cat "$TEST_TMP/o.txt")" "$(cat "$TEST_TMP/tp/log")"
	n=$(grep -c '^GETPIN$' "$TEST_TMP/tp/log")
	in_lab env KRB5CCNAME=FILE:/nonexistent AUTOENROLL_LIBEXECDIR="$AE_BIN" "$AUTOENROLL" pulse --user --wait --json \
		-c "$TEST_TMP/tp.conf" >"$TEST_TMP/o.txt" 2>&1
	grep -q 'cep_client_key.*needs a PIN.*interactive runs only.*never in the background pulse' "$TEST_TMP/o.txt" &&
		[ "$(grep -c '^GETPIN$' "$TEST_TMP/tp/log")" = "$n" ]
	ok $? "... and the background pulse asks nothing: its skip reason says the PIN is asked in interactive runs only" ||
		diag "$(cat "$TEST_TMP/o.txt")"
	sed -i "s|^cep_client_key = .*|cep_client_key = pkcs11:token=ae-cep;module-path=$MODULE|" "$TEST_TMP/t.conf"
	in_lab env KRB5CCNAME=FILE:/nonexistent "$AUTOENROLL" policy -c "$TEST_TMP/t.conf" >"$TEST_TMP/o.txt" 2>&1
	[ $? -ne 0 ] && grep -q "cep_client_key.*id=" "$TEST_TMP/o.txt"
	ok $? "a token URI without the key's id: refused, naming cep_client_key" || diag "$(cat "$TEST_TMP/o.txt")"
fi

done_testing
