#!/bin/bash
# lab-ca.sh - the lab CA CORP-CA1 (tests/lab/ca) proven with a third-party
# client: impacket's DCE/RPC (endpoint mapper, Kerberos via SPNEGO, packet
# privacy) driving MS-ICPR CertServerRequest through tests/lab/ca/icpr_client.py.
# Independent of the autoenroll binary: it checks the lab itself.
. "$(dirname "$0")/lib.sh"
lab_require --no-binary
. <("$LABCTL" env)
CLIENT="$top_srcdir/tests/lab/ca/icpr_client.py"
PY=/usr/bin/python3
O=$AE_LAB_FOREST_OID_ROOT.1
CALOG=$AE_LAB_DIR/ca/requests.log

icpr() { # icpr USER|--machine OUT ARGS...
	local who=$1 out=$2
	shift 2
	if [ "$who" = --machine ]; then
		as_machine $PY -B "$CLIENT" --keytab "$AE_LAB_DIR/ws1.keytab" --principal 'WS1$' "$@" >"$out" 2>"$out.err"
	else
		as_user "$who" $PY -B "$CLIENT" "$@" >"$out" 2>"$out.err"
	fi
}
j() { jq -r "$2" "$1"; }
last_log() { tail -n 1 "$CALOG" | jq -r "$1"; }
show() { diag "$(cat "$1" "$1.err" 2>/dev/null | cut -c1-400)"; }

# --- LabUser for alice: issued, subject and SAN from AD, template extension
icpr alice "$TEST_TMP/u.json" --template LabUser --template-oid "$O.101" --template-version 100.0 \
	--cert-out "$TEST_TMP/alice.pem"
[ "$(j "$TEST_TMP/u.json" .disposition)" = 3 ]
ok $? "LabUser for alice is issued (disposition 3)"
[ $? -eq 0 ] || show "$TEST_TMP/u.json"
subj=$(openssl x509 -in "$TEST_TMP/alice.pem" -noout -subject -nameopt RFC2253 2>/dev/null)
[ "$subj" = "subject=emailAddress=alice@corp.test,CN=alice,OU=Staff,DC=corp,DC=test" ]
ok $? "subject is alice's DN plus E= from AD ($subj)"
san=$(openssl x509 -in "$TEST_TMP/alice.pem" -noout -ext subjectAltName 2>/dev/null | tail -n 1 | sed 's/^ *//')
[ "$san" = "othername: UPN::alice@corp.test, email:alice@corp.test" ]
ok $? "SAN has alice's UPN and mail ($san)"
alice_sid=$(as_user alice ldapsearch -Q -LLL -o ldif-wrap=no -Y GSSAPI -H "ldap://$AE_LAB_DC" \
	-b "$AE_LAB_DOMAIN_DN" '(sAMAccountName=alice)' objectSid 2>/dev/null |
	sed -n 's/^objectSid:: //p' | $PY -c '
import base64, struct, sys
b = base64.b64decode(sys.stdin.read())
n = b[1]
print("S-%d-%d" % (b[0], int.from_bytes(b[2:8], "big")) + "".join("-%d" % x for x in struct.unpack("<%dI" % n, b[8:8 + 4 * n])))')
exts=$($PY - "$TEST_TMP/alice.pem" <<'PY'
import sys
from cryptography import x509
c = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
def ext(o):
    return c.extensions.get_extension_for_oid(x509.ObjectIdentifier(o)).value.value
t = ext("1.3.6.1.4.1.311.21.7")
# SEQUENCE { OID, INTEGER, INTEGER } (short forms)
oid_len = t[3]
body = t[4:4 + oid_len]
arcs = [body[0] // 40, body[0] % 40]
v = 0
for b in body[1:]:
    v = (v << 7) | (b & 0x7F)
    if not b & 0x80:
        arcs.append(v); v = 0
rest = t[4 + oid_len:]
major = int.from_bytes(rest[2:2 + rest[1]], "big")
rest = rest[2 + rest[1]:]
minor = int.from_bytes(rest[2:2 + rest[1]], "big")
sid = ext("1.3.6.1.4.1.311.25.2")
print(".".join(map(str, arcs)), "%d.%d" % (major, minor), sid[sid.index(b"S-1-"):].decode())
PY
)
[ "$exts" = "$O.101 100.0 $alice_sid" ]
ok $? "template extension is LabUser's OID 100.0, SID extension is alice's objectSid ($exts)"
openssl verify -CAfile "$AE_LAB_DIR/pki/root.pem" -untrusted "$AE_LAB_DIR/pki/ca1.pem" "$TEST_TMP/alice.pem" >/dev/null 2>&1
ok $? "certificate chains to the lab root through CORP-CA1"
[ "$(last_log '"\(.caller) \(.auth_type) \(.auth_level) \(.request_type) \(.template) \(.disposition)"')" = \
  "alice@CORP.TEST 9 6 pkcs10 LabUser 3" ]
ok $? "requests.log: alice, SPNEGO (9), privacy (6), pkcs10, LabUser, issued"
serial=$(j "$TEST_TMP/u.json" .serial)

# --- LabPending: pending, approve, retrieve
icpr alice "$TEST_TMP/p.json" --template LabPending --template-oid "$O.106"
rid=$(j "$TEST_TMP/p.json" .request_id)
[ "$(j "$TEST_TMP/p.json" .disposition)" = 5 ] && [ "$(j "$TEST_TMP/p.json" .message)" = "Taken Under Submission" ] &&
	[ "$rid" -gt 0 ]
ok $? "LabPending is taken under submission (disposition 5, request id $rid)"
icpr alice "$TEST_TMP/r1.json" --retrieve "$rid"
[ "$(j "$TEST_TMP/r1.json" .disposition)" = 5 ]
ok $? "retrieving request $rid before approval: still pending"
"$LABCTL" approve "$rid" >/dev/null
ok $? "labctl approve $rid"
icpr alice "$TEST_TMP/r2.json" --retrieve "$rid"
[ "$(j "$TEST_TMP/r2.json" .disposition)" = 3 ] && [ "$(j "$TEST_TMP/r2.json" .cert_pem)" != null ]
ok $? "retrieving request $rid after approval: issued"
[ "$(last_log '"\(.request_type) \(.request_id_in) \(.disposition)"')" = "retrieve $rid 3" ]
ok $? "requests.log records the retrieval"

# --- LabPending again: deny
icpr alice "$TEST_TMP/p2.json" --template LabPending --template-oid "$O.106"
rid2=$(j "$TEST_TMP/p2.json" .request_id)
"$LABCTL" deny "$rid2" >/dev/null
ok $? "labctl deny $rid2"
icpr alice "$TEST_TMP/r3.json" --retrieve "$rid2"
[ "$(j "$TEST_TMP/r3.json" .disposition)" = 2 ] && [[ "$(j "$TEST_TMP/r3.json" .message)" == *0x80094014* ]]
ok $? "retrieving denied request $rid2: disposition 2, 0x80094014"

# --- refusals
icpr alice "$TEST_TMP/un.json" --template LabUnpublished --template-oid "$O.114"
[ "$(j "$TEST_TMP/un.json" .disposition)" = $((0x80094800)) ]
ok $? "LabUnpublished: 0x80094800 CERTSRV_E_UNSUPPORTED_CERT_TYPE"
icpr alice "$TEST_TMP/plus.json" --template LabPlus --template-oid "$O.115"
[ "$(j "$TEST_TMP/plus.json" .disposition)" = $((0x80094012)) ] &&
	[[ "$(j "$TEST_TMP/plus.json" .message)" == *"do not allow the current user to enroll"* ]]
ok $? "LabPlus as alice: 0x80094012 CERTSRV_E_TEMPLATE_DENIED"
icpr bob "$TEST_TMP/plusb.json" --template LabPlus --template-oid "$O.115"
[ "$(j "$TEST_TMP/plusb.json" .disposition)" = 3 ]
ok $? "LabPlus as bob (CertPlus): issued"
icpr bob "$TEST_TMP/den.json" --template LabDenied
[ "$(j "$TEST_TMP/den.json" .disposition)" = $((0x80094012)) ]
ok $? "LabDenied as bob: the deny ACE placed first wins (0x80094012)"
icpr alice "$TEST_TMP/none.json"
[ "$(j "$TEST_TMP/none.json" .disposition)" = $((0x80094801)) ]
ok $? "no template information: 0x80094801 CERTSRV_E_NO_CERT_TYPE"
icpr alice "$TEST_TMP/conf.json" --template LabUser --template-oid "$O.102"
[ "$(j "$TEST_TMP/conf.json" .disposition)" = $((0x80094802)) ]
ok $? "attribute and extension name different templates: 0x80094802"
icpr alice "$TEST_TMP/small.json" --template LabRSA4096 --key-size 2048
[ "$(j "$TEST_TMP/small.json" .disposition)" = $((0x80094811)) ]
ok $? "2048-bit key for LabRSA4096: 0x80094811 CERTSRV_E_KEY_LENGTH"
icpr alice "$TEST_TMP/badca.json" --template LabUser --ca CORP-NOPE
[ "$(j "$TEST_TMP/badca.json" .disposition)" = $((0x80070057)) ]
ok $? "wrong CA name: E_INVALIDARG"
icpr alice "$TEST_TMP/lvl.json" --template LabUser --auth-level 2
[ "$(j "$TEST_TMP/lvl.json" .fault)" = true ] && [ "$(last_log .hresult)" = 5 ]
ok $? "auth level CONNECT: access denied fault, logged"

# --- machine
icpr --machine "$TEST_TMP/m.json" --template LabMachine --template-oid "$O.102" --cert-out "$TEST_TMP/ws1.pem"
[ "$(j "$TEST_TMP/m.json" .disposition)" = 3 ]
ok $? "LabMachine for WS1\$ (keytab) is issued"
[ $? -eq 0 ] || show "$TEST_TMP/m.json"
san=$(openssl x509 -in "$TEST_TMP/ws1.pem" -noout -ext subjectAltName 2>/dev/null | tail -n 1 | sed 's/^ *//')
[ "$san" = "DNS:ws1.corp.test" ]
ok $? "machine SAN is the dNSHostName ($san)"
[ "$(last_log .caller)" = 'WS1$@CORP.TEST' ]
ok $? "requests.log caller is WS1\$@CORP.TEST"
icpr alice "$TEST_TMP/mu.json" --template LabMachine --template-oid "$O.102"
[ "$(j "$TEST_TMP/mu.json" .disposition)" = $((0x80094012)) ]
ok $? "LabMachine for alice: denied (0x80094012)"

# --- fragmentation
icpr alice "$TEST_TMP/frag.json" --template LabUser --max-frag 512
[ "$(j "$TEST_TMP/frag.json" .disposition)" = 3 ] && [ "$(last_log .frags_in)" -gt 1 ]
ok $? "request in several fragments is reassembled and issued"

# --- renewal: CMS+PKCS#10 signed by the old key
icpr alice "$TEST_TMP/o.json" --template LabUser --template-oid "$O.101" \
	--key-out "$TEST_TMP/old.key" --cert-out "$TEST_TMP/old.pem"
icpr alice "$TEST_TMP/rn.json" --template LabUser --template-oid "$O.101" --renew-form cms \
	--renew-cert "$TEST_TMP/old.pem" --renew-key "$TEST_TMP/old.key"
[ "$(j "$TEST_TMP/rn.json" .disposition)" = 3 ] &&
	[ "$(last_log '"\(.request_type) \(.wrapper) \(.renewed_serial)"')" = "renewal cms $(j "$TEST_TMP/o.json" .serial)" ]
ok $? "renewal (CMS+PKCS#10 signed with the old key) is issued and logged as renewal"
# CMC renewal as Windows builds it for a schema 2 template (the client's
# default for LabUser): two SignerInfos, decoded here independently
icpr alice "$TEST_TMP/rc.json" --template LabUser --template-oid "$O.101" \
	--renew-cert "$TEST_TMP/old.pem" --renew-key "$TEST_TMP/old.key" --key-out "$TEST_TMP/new.key"
[ "$(j "$TEST_TMP/rc.json" .disposition)" = 3 ] &&
	[ "$(last_log '"\(.request_type) \(.wrapper) \(.signers)"')" = "renewal cmc 2" ]
ok $? "renewal (CMC, first signer the new key's SKI, second the old key) is issued"
[ $? -eq 0 ] || show "$TEST_TMP/rc.json"
layout=$($PY - "$AE_LAB_DIR/ca/ca.db" "$(j "$TEST_TMP/rc.json" .request_id)" "$TEST_TMP/old.pem" "$TEST_TMP/new.key" <<'PY'
import sqlite3, sys
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyasn1.codec.der import decoder
from pyasn1_modules import rfc5652
blob = sqlite3.connect(sys.argv[1]).execute("SELECT request FROM requests WHERE id=?", (int(sys.argv[2]),)).fetchone()[0]
ci, _ = decoder.decode(blob, asn1Spec=rfc5652.ContentInfo())
sd, _ = decoder.decode(ci["content"], asn1Spec=rfc5652.SignedData())
old = x509.load_pem_x509_certificate(open(sys.argv[3], "rb").read())
new = serialization.load_pem_private_key(open(sys.argv[4], "rb").read(), None).public_key()
ski = x509.SubjectKeyIdentifier.from_public_key(new).digest
out = [str(sd["encapContentInfo"]["eContentType"])]
for si in sd["signerInfos"]:
    sid = si["sid"]
    if sid.getName() == "subjectKeyIdentifier":
        out.append("ski-new" if bytes(sid["subjectKeyIdentifier"]) == ski else "ski-other")
    else:
        out.append("old" if int(sid["issuerAndSerialNumber"]["serialNumber"]) == old.serial_number else "other")
print(" ".join(out))
PY
)
[ "$layout" = "1.3.6.1.5.5.7.12.2 ski-new old" ]
ok $? "the CMC renewal decoded with pyasn1: id-cct-PKIData, signers [new key SKI, old certificate] ($layout)"
icpr bob "$TEST_TMP/rb.json" --template LabUser --template-oid "$O.101" \
	--renew-cert "$TEST_TMP/old.pem" --renew-key "$TEST_TMP/old.key"
[ "$(j "$TEST_TMP/rb.json" .disposition)" = $((0x80094806)) ]
ok $? "bob renewing alice's certificate: 0x80094806 CERTSRV_E_BAD_RENEWAL_SUBJECT"

# --- the C client's wire shape (MIT initiator): bare AP-REQ in SPNEGO or raw
# krb5, third leg in alter_context or rpc_auth3, 16-byte padding, small fragments
for mode in "spnego alter 1024" "spnego auth3 1024" "krb5 auth3 1024" "krb5 alter 512"; do
	set -- $mode
	as_user alice $PY -B "$top_srcdir/tests/lab/ca/dce_selftest.py" --auth "$1" --leg3 "$2" --frag "$3" \
		>"$TEST_TMP/st.json" 2>"$TEST_TMP/st.json.err"
	[ "$(j "$TEST_TMP/st.json" .disposition)" = 3 ] && [ "$(j "$TEST_TMP/st.json" .hdr_sign_echoed)" = false ] &&
		[ "$(j "$TEST_TMP/st.json" .frags_in)" -gt 1 ] &&
		[ "$(last_log '"\(.auth_type) \(.pad16) \(.max_recv_frag)"')" = "$([ "$1" = spnego ] && echo 9 || echo 16) true $3" ]
	ok $? "self-test client: $1, third leg in $2, fragments of $3: issued"
	[ $? -eq 0 ] || show "$TEST_TMP/st.json"
done

# --- revocation and the CRL over HTTP
"$LABCTL" revoke "$serial" >/dev/null
ok $? "labctl revoke $serial"
in_lab curl -sf -o "$TEST_TMP/crl.der" "http://ca1.corp.test/CertEnroll/CORP-CA1.crl"
ok $? "CRL is served at the CDP URL"
openssl crl -inform DER -in "$TEST_TMP/crl.der" -noout -text 2>/dev/null | grep -qi "Serial Number: *$serial"
ok $? "CRL lists the revoked serial"

# --- labctl's own handling of the CA process (issue 19): a CA that serves
# without its pid file (as while it starts: it writes the file once its
# ports are bound) is found, and ca-restart replaces it with one CA, not a
# second that dies with "address in use".
ca_procs() { # the pids of CA1 processes in the lab's namespace
	local p
	for p in $(ip netns pids "$AE_LAB_NETNS" 2>/dev/null); do
		tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | grep -q 'labca\.py$' &&
			tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | grep -qx serve &&
			! tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx 'AE_LAB_CA=ca2' && echo "$p"
	done
}
old_pid=$(ca_procs)
mv "$AE_LAB_DIR/ca/ca.pid" "$TEST_TMP/ca.pid"
st=$("$LABCTL" status)
[ -n "$old_pid" ] && [[ $st == *"CA pid $old_pid)"* ]]
ok $? "labctl status finds the serving CA without its pid file ($st)"
log_lines=$(wc -l <"$AE_LAB_DIR/ca/ca.log")
"$LABCTL" ca-restart >"$TEST_TMP/restart.out" 2>&1
rc=$?
new_pid=$(ca_procs)
[ $rc -eq 0 ] && [ -n "$new_pid" ] && [ "$(wc -w <<<"$new_pid")" = 1 ] && [ "$new_pid" != "$old_pid" ] &&
	[ "$(cat "$AE_LAB_DIR/ca/ca.pid" 2>/dev/null)" = "$new_pid" ] &&
	! tail -n +$((log_lines + 1)) "$AE_LAB_DIR/ca/ca.log" | grep -qi "address already in use"
ok $? "ca-restart without the pid file: one CA serves (pid $old_pid -> $new_pid), none died on its ports"
[ $? -eq 0 ] || diag "$(cat "$TEST_TMP/restart.out"; tail -n +$((log_lines + 1)) "$AE_LAB_DIR/ca/ca.log" | tail -5)"
[ -e "$AE_LAB_DIR/ca/ca.pid" ] || mv "$TEST_TMP/ca.pid" "$AE_LAB_DIR/ca/ca.pid"

done_testing
