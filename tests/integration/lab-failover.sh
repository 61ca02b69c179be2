#!/bin/bash
# lab-failover.sh - the CA choice and failover (whitepaper, "Submitting a
# new request": the request goes to a CA that publishes the template; for
# the CAs AD lists, the first, and the next when one cannot be reached).
# A second CA, CORP-CA2 (labctl ca2 up), publishes the same templates; a CA
# that accepts connections and never answers (labctl ca-hang) costs one
# rpc_timeout, then the same request goes to the other CA within the pulse.
# Renewals fail over the same way, to a CA that did not issue the
# certificate (AD CS accepts a renewal of another enterprise CA's
# certificate that chains and is not revoked).  The lab is one-CA again at
# the end (labctl ca2 down).
. "$(dirname "$0")/lib.sh"
lab_require
. <("$LABCTL" env)
RPC_TIMEOUT=3
cleanup_all() {
	"$LABCTL" ca-hang ca1 off >/dev/null 2>&1
	"$LABCTL" ca2 down >/dev/null 2>&1
	rm -rf "$TEST_TMP"
}
trap cleanup_all EXIT
"$LABCTL" ca2 up >"$TEST_TMP/ca2.log" 2>&1
ok $? "labctl ca2 up: CORP-CA2 runs on ca2.corp.test" || diag "$(cat "$TEST_TMP/ca2.log")"

cat >"$TEST_TMP/f.conf" <<CONF
[global]
rpc_timeout = $RPC_TIMEOUT
crl_timeout = 2
policy_refresh = 0
[machine]
keytab = $AE_LAB_DIR/ws1.keytab
state_dir = $TEST_TMP/f/machine
CONF
pulse() { # [OFFSET]: the machine's pulse, JSON in r.json, log in r.err, seconds in $secs
	local t0=$SECONDS
	as_machine env AUTOENROLL_LIBEXECDIR="$AE_BIN" AE_TEST_NOW_OFFSET="${1:-0}" \
		"$AUTOENROLL" pulse --machine --wait --json -c "$TEST_TMP/f.conf" >"$TEST_TMP/r.json" 2>"$TEST_TMP/r.err"
	secs=$((SECONDS - t0))
}
evca() { jq -r --arg e "$1" '[.events[] | select(.event==$e and .template=="LabMachine") | .ca] | join(",")' "$TEST_TMP/r.json"; }
show() { diag "$(jq -c '[.events[] | {event, template, ca, message}]' "$TEST_TMP/r.json" 2>/dev/null | head -c 2000)" "$(head -c 2000 "$TEST_TMP/r.err")"; }
lines() { if [ -e "$1" ]; then wc -l <"$1"; else echo 0; fi; }
calog() { echo "$AE_LAB_DIR/$([ "$1" = CORP-CA1 ] && echo ca || echo ca2)/requests.log"; }
inst() { [ "$1" = CORP-CA1 ] && echo ca1 || echo ca2; }
issuer() { "$AUTOENROLL" status --machine --json -c "$TEST_TMP/f.conf" 2>/dev/null |
	jq -r '.records[] | select(.template=="LabMachine" and .state=="issued") | .ca'; }

# The order the client tries them in: the template's CAs as AD lists them.
cas=$(as_machine "$AUTOENROLL" policy --machine --json -c "$TEST_TMP/f.conf" 2>/dev/null |
	jq -r '.templates[] | select(.name=="LabMachine") | .cas | join(" ")')
read -r first second <<<"$cas"
[ -n "$second" ] && [[ " $cas " == *" CORP-CA1 "* && " $cas " == *" CORP-CA2 "* ]]
ok $? "both CAs publish LabMachine: the client's order is '$cas'"

# --- a new request: the first CA hangs, the second issues, within one pulse
"$LABCTL" ca-hang "$(inst "$first")" on >/dev/null
n2=$(lines "$(calog "$second")")
pulse
"$LABCTL" ca-hang "$(inst "$first")" off >/dev/null
[ "$(evca enrolled)" = "$second" ] && [ "$(issuer)" = "$second" ]
ok $? "$first does not answer: LabMachine enrolled from $second in the same pulse" || show
tail -n +$((n2 + 1)) "$(calog "$second")" | jq -e 'select(.template=="LabMachine" and .disposition==3 and .caller=="WS1$@CORP.TEST")' >/dev/null
ok $? "$second's log has the request from WS1\$, issued"
jq -e --arg m "$first could not be asked .*rpc_timeout.*the request went to $second" '.events[] | select(.event=="enrolled") | .message | test($m)' "$TEST_TMP/r.json" >/dev/null
ok $? "the enrolled event says $first could not be asked, names rpc_timeout and the next CA" || show
[ "$secs" -le $((RPC_TIMEOUT * 2 + 8)) ]
ok $? "the pulse took ${secs} s: one rpc_timeout ($RPC_TIMEOUT s) lost on the hung CA, not more"

# --- renewals: the first CA renews the second's certificate; then, with
# the first hanging, the second renews the first's
n1=$(lines "$(calog "$first")")
pulse $((330 * 86400))
[ "$(evca renewed)" = "$first" ] && [ "$(issuer)" = "$first" ] &&
	tail -n +$((n1 + 1)) "$(calog "$first")" | jq -e 'select(.template=="LabMachine" and .request_type=="renewal" and .disposition==3)' >/dev/null
ok $? "$first renews the certificate $second issued (chain and revocation checked from AD, as AD CS)" || show
"$LABCTL" ca-hang "$(inst "$first")" on >/dev/null
n2=$(lines "$(calog "$second")")
pulse $((330 * 86400))
"$LABCTL" ca-hang "$(inst "$first")" off >/dev/null
[ "$(evca renewed)" = "$second" ] && [ "$(issuer)" = "$second" ] &&
	tail -n +$((n2 + 1)) "$(calog "$second")" | jq -e 'select(.template=="LabMachine" and .request_type=="renewal" and .disposition==3)' >/dev/null
ok $? "$first does not answer: the renewal goes to $second in the same pulse" || show
jq -e --arg m "$first could not be asked .*rpc_timeout.*the renewal went to $second" '.events[] | select(.event=="renewed") | .message | test($m)' "$TEST_TMP/r.json" >/dev/null
ok $? "the renewed event says $first could not be asked, naming rpc_timeout" || show

# --- no CA answers: the pulse fails the template, bounded by rpc_timeout per CA
"$LABCTL" ca-hang ca1 on >/dev/null
"$LABCTL" ca-hang ca2 on >/dev/null
pulse $((700 * 86400))
"$LABCTL" ca-hang ca1 off >/dev/null
"$LABCTL" ca-hang ca2 off >/dev/null
jq -e --arg c "$second" '.events[] | select(.event=="failed" and .template=="LabMachine" and .ca==$c) | .message | test("rpc_timeout")' "$TEST_TMP/r.json" >/dev/null
ok $? "both CAs hang: LabMachine fails, after trying $first then $second, and the message names rpc_timeout" || show
[ "$secs" -le $((RPC_TIMEOUT * 3 + 10)) ]
ok $? "... in ${secs} s: one rpc_timeout per CA"

"$LABCTL" ca2 down >/dev/null 2>&1
n=$(as_machine "$AUTOENROLL" policy --machine --json -c "$TEST_TMP/f.conf" 2>/dev/null | jq '[.cas[] | select(.name=="CORP-CA2")] | length')
[ "$n" = 0 ]; ok $? "labctl ca2 down: AD lists CORP-CA1 and CORP-ROGUE again, not CORP-CA2"
done_testing
