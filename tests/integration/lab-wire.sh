#!/bin/bash
# lab-wire.sh - the client's traffic checked by a third party: tshark
# captures an enrollment inside the lab namespace, and Wireshark's
# dissectors must find the endpoint mapper call, the bind with SPNEGO and a
# Kerberos AP-REQ, the alter_context third leg, the sealed request and
# response, and no malformed packet.
. "$(dirname "$0")/lib.sh"
lab_require
command -v tshark >/dev/null || skip_all "tshark is not installed (tests/deps.sh)"
. <("$LABCTL" env)

cap=$TEST_TMP/enroll.pcapng
printf '[user]\nstate_dir = %s/state\n' "$TEST_TMP" >"$TEST_TMP/ae.conf"
# Started directly (not through a shell function) so that $! is tshark
# itself and it gets the SIGINT that makes it finish the file; the
# autostop bounds it in any case.
ip netns exec "$AE_LAB_NETNS" tshark -q -i lo -a duration:60 \
	-f "host 127.0.0.11 and (tcp port 135 or tcp port 49700)" -w "$cap" >"$TEST_TMP/tshark.log" 2>&1 &
tpid=$!
for i in $(seq 50); do grep -q "Capturing on" "$TEST_TMP/tshark.log" && break; sleep 0.1; done
as_user alice "$AUTOENROLL" enroll --template LabUser -c "$TEST_TMP/ae.conf" >/dev/null 2>"$TEST_TMP/err"
ok $? "enrollment while capturing"
sleep 0.5
kill -INT $tpid 2>/dev/null
wait $tpid 2>/dev/null
[ -s "$cap" ]; ok $? "capture written"

types=$(tshark -r "$cap" -d tcp.port==49700,dcerpc -Y dcerpc -T fields -e dcerpc.pkt_type 2>/dev/null | sort -n | uniq | tr '\n' ' ')
diag "DCE/RPC packet types seen: $types"
for t in 11 12 14 15 0 2; do
	echo " $types" | grep -q " $t "
	ok $? "PDU type $t present (11 bind, 12 bind_ack, 14 alter_context, 15 alter_context_resp, 0 request, 2 response)"
done
[ "$(tshark -r "$cap" -d tcp.port==49700,dcerpc -Y 'epm.opnum == 3' 2>/dev/null | wc -l)" -ge 2 ]
ok $? "endpoint mapper ept_map request and response dissected"
tshark -r "$cap" -d tcp.port==49700,dcerpc -Y 'dcerpc.auth_type == 9 && dcerpc.auth_level == 6' 2>/dev/null | grep -q .
ok $? "authenticated PDUs are SPNEGO (9) at packet privacy (6)"
tshark -r "$cap" -d tcp.port==49700,dcerpc -Y 'kerberos.msg_type == 14' 2>/dev/null | grep -q .
ok $? "the bind carries a Kerberos AP-REQ inside SPNEGO"
tshark -r "$cap" -d tcp.port==49700,dcerpc -Y 'kerberos.msg_type == 15' 2>/dev/null | grep -q .
ok $? "AP-REP legs dissected"
mal=$(tshark -r "$cap" -d tcp.port==49700,dcerpc -Y '_ws.malformed || _ws.expert.severity == error' 2>/dev/null | wc -l)
[ "$mal" -eq 0 ]; ok $? "no malformed packet and no dissector error ($mal)"
[ "$mal" -eq 0 ] || diag "$(tshark -r "$cap" -d tcp.port==49700,dcerpc -Y '_ws.malformed || _ws.expert.severity == error' 2>/dev/null | head -5)"

# Fragmentation both ways, end to end: 512-byte fragments.
AE_TEST_RPC_MAX_FRAG=512 as_user alice "$AUTOENROLL" enroll --template LabUser -c "$TEST_TMP/ae.conf" >/dev/null 2>"$TEST_TMP/err"
ok $? "enrollment with 512-byte fragments"
tail -1 "$AE_LAB_DIR/ca/requests.log" | jq -e '.frags_in > 1 and .max_recv_frag == 512 and .disposition == 3' >/dev/null
ok $? "the CA reassembled a fragmented, sealed request and answered in 512-byte fragments ($(tail -1 "$AE_LAB_DIR/ca/requests.log" | jq -c '{frags_in, max_recv_frag}'))"

done_testing
