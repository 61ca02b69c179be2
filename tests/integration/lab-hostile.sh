#!/bin/bash
# lab-hostile.sh - a hostile CA (labctl ca-mode): the CA issues, but for
# another key or template, with a chain that does not verify, or answers
# with malformed PDUs (oversized, truncated, a fragment or auth length past
# the end), a byte a second, or hangs up mid-response.  For each mode
# `autoenroll enroll` refuses with a clear message, stores nothing (no
# record, no certificate, no key on the token), and stays within its
# rpc_timeout and a bounded peak RSS (/usr/bin/time -f %M).  A machine
# pulse against the impostor's chain (bad-chain) refuses too.
. "$(dirname "$0")/lib.sh"
lab_require
[ -e /usr/lib/softhsm/libsofthsm2.so ] && command -v pkcs11-tool >/dev/null ||
	skip_all "SoftHSM2 and pkcs11-tool are needed (tests/deps.sh)"
[ -x /usr/bin/time ] || skip_all "/usr/bin/time is needed (Debian package time)"
. <("$LABCTL" env)
CALOG=$AE_LAB_DIR/ca/requests.log
RPC_TIMEOUT=3
trap '"$LABCTL" ca-mode normal >/dev/null; rm -rf "$TEST_TMP"' EXIT

softhsm_token ae-hostile
cat >"$TEST_TMP/ae.conf" <<CONF
[global]
rpc_timeout = $RPC_TIMEOUT
[user]
store = pkcs11:token=ae-hostile;module-path=$MODULE?pin-source=$TEST_TMP/pin
state_dir = $TEST_TMP/alice
CONF
sed "s|^store = .*|store = file:$TEST_TMP/base-keys|; s|^state_dir = .*|state_dir = $TEST_TMP/base|" \
	"$TEST_TMP/ae.conf" >"$TEST_TMP/base.conf"

# enroll CONF: alice enrolls for LabUser; exit status in $rc, wall time
# (s) in $secs, peak RSS (KB) in $rss, stderr in $TEST_TMP/err
enroll() {
	local t0
	t0=$(date +%s.%N)
	as_user alice /usr/bin/time -f %M -o "$TEST_TMP/rss" \
		"$AUTOENROLL" enroll --template LabUser -c "$1" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
	rc=$?
	secs=$(echo "$(date +%s.%N) - $t0" | bc)
	rss=$(tail -1 "$TEST_TMP/rss")
}

# the same enrollment from a normal CA: the yardstick of time and memory
"$LABCTL" ca-mode normal >/dev/null
enroll "$TEST_TMP/base.conf"
ok $rc "a normal CA issues LabUser to alice (${secs} s, ${rss} KB)" || diag "$(cat "$TEST_TMP/err")"
base_secs=$secs base_rss=$rss
# tests/bench/hostile-ca.sh: a table of mode, message, seconds, KB
echo "normal|$(head -1 "$TEST_TMP/out")|$secs|$rss" >>"${AE_HOSTILE_TABLE:-/dev/null}"
max_secs=$(echo "$base_secs + 2 * $RPC_TIMEOUT + 10" | bc)
max_rss=$((base_rss + 20480))

# stored: what alice's state and token hold (records, certificates, keys)
stored() {
	local n
	n=$(as_user alice "$AUTOENROLL" status --json -c "$TEST_TMP/ae.conf" 2>/dev/null | jq '.records | length')
	n=$((${n:-99} + $(find "$TEST_TMP/alice" -type f -name '*.pem' 2>/dev/null | wc -l)))
	n=$((n + $(pkcs11-tool --module "$MODULE" --token-label ae-hostile --login --pin 1111 \
		--list-objects 2>/dev/null | grep -c 'Object;')))
	echo "$n"
}

# hostile MODE NEEDLE: the client refuses MODE with NEEDLE in its message
hostile() {
	local mode=$1 needle=$2
	"$LABCTL" ca-mode "$mode" >/dev/null || { ok 1 "labctl ca-mode $mode"; return; }
	enroll "$TEST_TMP/ae.conf"
	[ $rc -eq 1 ] && grep -qF -- "$needle" "$TEST_TMP/err"
	ok $? "$mode: refused, \"$needle\"" || diag "exit $rc: $(cat "$TEST_TMP/err")"
	tail -1 "$CALOG" | jq -e --arg m "$mode" '.ca_mode == $m and .disposition == 3' >/dev/null
	ok $? "$mode: the CA did issue (the refusal is the client's)"
	[ "$(stored)" = 0 ]
	ok $? "$mode: nothing stored (no record, certificate or key)" || diag "$(stored) objects"
	[ "$(echo "$secs <= $max_secs" | bc)" = 1 ] && [ "$rss" -le "$max_rss" ]
	ok $? "$mode: ${secs} s (bound ${max_secs} s), peak RSS ${rss} KB (bound ${max_rss} KB)"
	echo "$mode|$(head -1 "$TEST_TMP/err" | cut -c1-200)|$secs|$rss" >>"${AE_HOSTILE_TABLE:-/dev/null}"
}

hostile foreign-key "the CA returned a certificate for another public key than the one we generated: not stored"
hostile wrong-template "the returned certificate is of template User, not LabUser"
hostile bad-chain "the returned certificate is not signed by the CA we asked: not stored"
hostile oversized "larger than the 5840 we accept"
hostile truncated "truncated"
hostile frag-overflow "no answer within $RPC_TIMEOUT s (rpc_timeout"
hostile auth-overflow "auth_length"
hostile slow "no answer within $RPC_TIMEOUT s (rpc_timeout"
hostile hangup "closed the connection in the middle of a PDU"

# A machine pulse against an impostor's chain: what it enrolls is refused
# (exit 3, failed events that say why), nothing stored.
cat >"$TEST_TMP/m.conf" <<CONF
[global]
rpc_timeout = $RPC_TIMEOUT
policy_refresh = 0
[machine]
keytab = $AE_LAB_DIR/ws1.keytab
state_dir = $TEST_TMP/m
CONF
"$LABCTL" ca-mode bad-chain >/dev/null
mark=$(wc -l <"$CALOG")
as_machine env AUTOENROLL_LIBEXECDIR="$AE_BIN" "$AUTOENROLL" pulse --machine --wait --json \
	-c "$TEST_TMP/m.conf" >"$TEST_TMP/r.json" 2>"$TEST_TMP/r.err"
rc=$?
issued=$(tail -n +$((mark + 1)) "$CALOG" | jq -s '[.[] | select(.ca_mode == "bad-chain" and .disposition == 3)] | length')
[ $rc -eq 3 ] && [ "$issued" -ge 1 ] &&
	jq -e --argjson n "$issued" '.counts.failed == $n and .counts.enrolled == 0 and
		([.events[] | select(.event == "failed" and (.message | contains("not signed by the CA we asked")))] | length) == $n' \
		"$TEST_TMP/r.json" >/dev/null
ok $? "bad-chain: a machine pulse refuses each of the $issued certificates the CA issued, exit 3, failed events say why" ||
	diag "rc=$rc $(jq -c '[.events[] | {event, template, message}]' "$TEST_TMP/r.json" 2>/dev/null | head -c 2000)" "$(head -c 500 "$TEST_TMP/r.err")"
n=$("$AUTOENROLL" status --machine --json -c "$TEST_TMP/m.conf" 2>/dev/null | jq '.records | length')
[ "$n" = 0 ] && ! grep -rlq "PRIVATE KEY" "$TEST_TMP/m" && [ -z "$(find "$TEST_TMP/m/certs" "$TEST_TMP/m/live" -type f 2>/dev/null)" ]
ok $? "bad-chain: the pulse left no record, key or certificate (${n:-?} records)"

"$LABCTL" ca-mode normal >/dev/null
enroll "$TEST_TMP/ae.conf"
ok $rc "ca-mode normal: the CA issues again, onto the token" || diag "$(cat "$TEST_TMP/err")"
[ "$(stored)" -ge 4 ]
ok $? "... where the check of what is stored sees record, certificate and key ($(stored) objects)"
done_testing
