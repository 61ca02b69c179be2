#!/bin/bash
# lab-ra.sh - templates that need an RA signature and templates whose
# subject the enrollee supplies, against the lab CA (which applies
# MS-WCCE 3.2.2.6.2.1.4.5.1 and 3.2.2.6.2.1.2.1 as AD CS does):
#  - alice enrolls for an enrollment agent certificate (LabAgent); her
#    pulse then enrolls and renews LabRA co-signed by it (CMC, agent as
#    the last signer);
#  - without CT_FLAG_PREVIOUS_APPROVAL_VALIDATE_REENROLLMENT a renewal
#    needs the RA signature too: without an agent nothing is sent; with
#    the flag the renewal is signed by the old certificate alone;
#  - enroll on behalf of bob (requestername), refused for a template that
#    needs no RA signature; a revoked agent's signature is rejected;
#  - LabSubject (ENROLLEE_SUPPLIES_SUBJECT) enrolled by hand with subject
#    and SANs, renewed by hand and by the pulse with the same names.
. "$(dirname "$0")/lib.sh"
lab_require
. <("$LABCTL" env)
CALOG=$AE_LAB_DIR/ca/requests.log
TPL_BASE="CN=Certificate Templates,CN=Public Key Services,CN=Services,$AE_LAB_CONFIG_NC"

ldapmod() { "$LABCTL" run --admin -- ldapmodify -Q -Y GSSAPI -H ldap://dc1.corp.test >/dev/null 2>&1; }
tpl_set() { printf 'dn: CN=%s,%s\nchangetype: modify\nreplace: %s\n%s: %s\n' "$1" "$TPL_BASE" "$2" "$2" "$3" | ldapmod; }
restore() {
	tpl_set LabRA revision 100
	tpl_set LabRA msPKI-Enrollment-Flag 41
	tpl_set LabSubject revision 100
}
trap 'restore; rm -rf "$TEST_TMP"' EXIT
restore

conf() { # NAME [AEPOLICY]
	cat >"$TEST_TMP/$1.conf" <<CONF
[global]
rpc_timeout = 10
crl_timeout = 5
policy_refresh = 0
[user]
state_dir = $TEST_TMP/$1/user
aepolicy = ${2:-7}
CONF
}
ae() { local c=$1; shift; as_user alice env AUTOENROLL_LIBEXECDIR="$AE_BIN" "$AUTOENROLL" "$@" -c "$TEST_TMP/$c.conf"; }
pulse() { ae "$1" pulse --user --wait --json >"$TEST_TMP/r.json" 2>"$TEST_TMP/r.err"; }
ev() { jq -r --arg e "$1" --arg t "${2:-}" '[.events[] | select(.event==$e and ($t=="" or .template==$t))] | length' "$TEST_TMP/r.json"; }
evmsg() { jq -r --arg e "$1" --arg t "$2" '.events[] | select(.event==$e and .template==$t) | .message' "$TEST_TMP/r.json"; }
records() { "$AUTOENROLL" status --user --json -c "$TEST_TMP/$1.conf" 2>/dev/null; }
rec_id() { records "$1" | jq -r --arg t "$2" '.records[] | select(.template==$t and .state=="issued") | .id' | head -1; }
cert_of() { echo "$TEST_TMP/$1/user/certs/$2.pem"; }
mark() { wc -l <"$CALOG"; }
since() { tail -n +$(($1 + 1)) "$CALOG" | jq -s --arg t "$2" '[.[] | select(.template==$t)]'; }
show() { diag "$(jq -c '[.events[] | {event, template, message}]' "$TEST_TMP/r.json" 2>/dev/null | head -c 3000)" "$(head -c 1500 "$TEST_TMP/r.err")"; }
names() { # CERT -> subject and SANs, one line
	openssl x509 -in "$1" -noout -subject -nameopt RFC2253 -ext subjectAltName 2>/dev/null | tr '\n' ' '
}

# ===== the enrollment agent, then LabRA by the pulse =====
conf a
ae a enroll --template LabAgent >"$TEST_TMP/out" 2>&1; ok $? "alice enrolls for an enrollment agent certificate (LabAgent, Enroll only)" || diag "$(cat "$TEST_TMP/out")"
AG=$(rec_id a LabAgent)
openssl x509 -in "$(cert_of a "$AG")" -noout -ext extendedKeyUsage 2>/dev/null | grep -q "1.3.6.1.4.1.311.20.2.1\|Certificate Request Agent"
ok $? "... with the Certificate Request Agent EKU"
m=$(mark)
pulse a
[ "$(ev enrolled LabRA)" = 1 ] && [ -n "$(rec_id a LabRA)" ]; ok $? "the pulse enrolls LabRA (one RA signature) co-signed by the agent" || show
since "$m" LabRA | jq -e 'length==1 and .[0].disposition==3 and .[0].wrapper=="cmc"' >/dev/null
ok $? "... one CMC request, issued by the CA that checks RA signatures" || diag "$(since "$m" LabRA)"
[ "$(ev enrolled LabAgent)" = 0 ]; ok $? "the agent template (no AutoEnroll) is not enrolled by the pulse"

# ===== renewal without PREVIOUS_APPROVAL: RA signature again =====
RA1=$(rec_id a LabRA)
tpl_set LabRA revision 101
m=$(mark)
pulse a
[ "$(ev renewed LabRA)" = 1 ] && [ "$(rec_id a LabRA)" != "$RA1" ]; ok $? "no PREVIOUS_APPROVAL: the renewal is co-signed by the agent and issued" || show
since "$m" LabRA | jq -e 'length==1 and .[0].request_type=="renewal" and .[0].disposition==3 and .[0].signers==3' >/dev/null
ok $? "... one renewal with three signers (new key, old certificate, agent)" || diag "$(since "$m" LabRA)"

# ===== the same without an agent in the store =====
conf b
ae b enroll --template LabAgent >/dev/null 2>&1
BAG=$(rec_id b LabAgent)
ae b enroll --template LabRA --agent-cert "$BAG" >"$TEST_TMP/out" 2>&1
ok $? "enroll --template LabRA --agent-cert ID: co-signed by hand" || diag "$(cat "$TEST_TMP/out")"
find "$TEST_TMP/b" -name "$BAG.*" -delete   # the agent certificate is gone
tpl_set LabRA revision 102
m=$(mark)
pulse b
[ "$(ev renewed LabRA)" = 0 ] && [ "$(since "$m" LabRA | jq length)" = 0 ]
ok $? "no PREVIOUS_APPROVAL and no agent: no renewal is sent (the CA would refuse it at every pulse)" || show
evmsg skipped LabRA | grep -q "RA signature on renewals too"; ok $? "... and the pulse says an RA signature is needed" || show
tpl_set LabRA msPKI-Enrollment-Flag $((0x29 | 0x40))
pulse b
[ "$(ev renewed LabRA)" = 1 ] && since "$m" LabRA | jq -e 'length==1 and .[0].request_type=="renewal" and .[0].signers==2 and .[0].prev_approval=="honoured"' >/dev/null
ok $? "PREVIOUS_APPROVAL: renewed, signed by the old certificate alone" || { show; diag "$(since "$m" LabRA)"; }
tpl_set LabRA msPKI-Enrollment-Flag 41

# ===== enroll on behalf =====
m=$(mark)
ae a enroll --template LabRA --agent-cert "$AG" --on-behalf-of 'CORP\bob' >"$TEST_TMP/out" 2>&1
ok $? "enroll --on-behalf-of CORP\\bob --agent-cert ID: issued" || diag "$(cat "$TEST_TMP/out")"
since "$m" LabRA | jq -e '.[0].caller=="alice@CORP.TEST" and .[0].on_behalf_of=="bob@CORP.TEST" and .[0].disposition==3' >/dev/null
ok $? "... the CA saw alice ask for bob" || diag "$(since "$m" LabRA)"
grep -q "subject.*CN=bob" "$TEST_TMP/out" || grep -q "subject.*bob" "$TEST_TMP/out"
ok $? "... and the certificate is bob's" || diag "$(cat "$TEST_TMP/out")"
ae a enroll --template LabUser --agent-cert "$AG" --on-behalf-of 'CORP\bob' >"$TEST_TMP/out" 2>&1
[ $? -ne 0 ] && grep -q "0x80094806" "$TEST_TMP/out"
ok $? "on behalf of bob for a template that needs no RA signature: refused, 0x80094806" || diag "$(cat "$TEST_TMP/out")"

# ===== enrollee-supplied subject =====
ae a enroll --template LabSubject --subject "CN=svc.corp.test,O=Lab" --dns svc.corp.test --dns alt.corp.test \
	--upn svc@corp.test --email svc@corp.test >"$TEST_TMP/out" 2>&1
ok $? "enroll --template LabSubject --subject --dns --dns --upn --email" || diag "$(cat "$TEST_TMP/out")"
S1=$(rec_id a LabSubject)
N1=$(names "$(cert_of a "$S1")")
echo "$N1" | grep -q "CN=svc.corp.test" && echo "$N1" | grep -q "alt.corp.test" && echo "$N1" | grep -q "svc@corp.test"
ok $? "the certificate has the subject and names given" || diag "$N1"
ae a enroll --renew "$S1" >"$TEST_TMP/out" 2>&1
S2=$(rec_id a LabSubject)
[ -n "$S2" ] && [ "$S2" != "$S1" ] && [ "$(names "$(cert_of a "$S2")")" = "$N1" ]
ok $? "enroll --renew: the renewal reuses the subject and alternative names" || diag "$(cat "$TEST_TMP/out")"
tpl_set LabSubject revision 101
pulse a
S3=$(rec_id a LabSubject)
[ "$(ev renewed LabSubject)" = 1 ] && [ "$S3" != "$S2" ] && [ "$(names "$(cert_of a "$S3")")" = "$N1" ]
ok $? "the pulse (Manage) renews it with the same names" || show

# ===== a revoked agent's signature =====
serial=$(openssl x509 -in "$(cert_of a "$AG")" -noout -serial | cut -d= -f2)
"$LABCTL" revoke "$serial" >/dev/null 2>&1
m=$(mark)
ae a enroll --template LabRA --agent-cert "$AG" >"$TEST_TMP/out" 2>&1
[ $? -ne 0 ] && since "$m" LabRA | jq -e '.[0].hresult==2148091915' >/dev/null
ok $? "co-signed by a revoked agent: the CA rejects the signature (0x8009480B)" || { diag "$(cat "$TEST_TMP/out")"; diag "$(since "$m" LabRA)"; }
done_testing
