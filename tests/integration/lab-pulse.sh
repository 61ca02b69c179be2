#!/bin/bash
# lab-pulse.sh - the autoenrollment task sequence against the lab, one
# whitepaper rule at a time, each asserting what Windows does: renewal at
# 80 % of the lifetime or the renewal period; major/minor versions;
# supersedence; pending requests (59/61 days, denied, issued with renewal
# cleanup); RA signatures; key archival; machine templates needing user
# interaction; expired and revoked certificates; unpublished templates;
# Manage, Enroll and disabled; two pulses in a row; two pulses at once;
# ten pulses at once; journal events.
#
# Time: the lab CA issues with the real clock; where a rule needs a later
# "now" (81 % of a lifetime, 61 days of pending), the pulse runs with
# AE_TEST_NOW_OFFSET, which shifts only autoenroll's own decisions.
. "$(dirname "$0")/lib.sh"
lab_require
. <("$LABCTL" env)
CALOG=$AE_LAB_DIR/ca/requests.log
TPL_BASE="CN=Certificate Templates,CN=Public Key Services,CN=Services,$AE_LAB_CONFIG_NC"
CA_DN="CN=CORP-CA1,CN=Enrollment Services,CN=Public Key Services,CN=Services,$AE_LAB_CONFIG_NC"
DAY=86400

# --- journal stand-in: events arrive over the native protocol ---
journal_sink

ldapmod() { "$LABCTL" run --admin -- ldapmodify -Q -Y GSSAPI -H ldap://dc1.corp.test >/dev/null 2>&1; }
tpl_set() { # NAME ATTR VALUE ("b64:..." for binary values)
	local v=$3 line
	case $v in b64:*) line="$2:: ${v#b64:}" ;; *) line="$2: $v" ;; esac
	printf 'dn: CN=%s,%s\nchangetype: modify\nreplace: %s\n%s\n' "$1" "$TPL_BASE" "$2" "$line" | ldapmod
}
period() { /usr/bin/python3 -c 'import struct,base64,sys;print("b64:"+base64.b64encode(struct.pack("<q",-int(sys.argv[1])*10**7)).decode())' "$1"; }
publish() { # add|delete TEMPLATE
	printf 'dn: %s\nchangetype: modify\n%s: certificateTemplates\ncertificateTemplates: %s\n' "$CA_DN" "$1" "$2" | ldapmod
}
# Everything this test changes in AD goes back to templates.py's values.
restore() {
	tpl_set LabShort pKIOverlapPeriod "$(period 7200)"
	tpl_set LabShort pKIExpirationPeriod "$(period $DAY)"
	tpl_set LabShort msPKI-Enrollment-Flag 41
	tpl_set LabUser revision 100
	tpl_set LabUser msPKI-Template-Minor-Revision 0
	tpl_set LabPending revision 100
	tpl_set LabRA revision 100
	tpl_set LabRA msPKI-RA-Signature 1
	tpl_set LabRA msPKI-Enrollment-Flag 41
	publish add LabUser 2>/dev/null
}
cleanup_all() { restore; rm -f "$SOCK"; kill "$sink" 2>/dev/null; rm -rf "$TEST_TMP"; }
trap cleanup_all EXIT
restore

# conf NAME [AEPOLICY]: a configuration with its own state directories.
conf() {
	cat >"$TEST_TMP/$1.conf" <<CONF
[global]
rpc_timeout = 10
crl_timeout = 5
policy_refresh = ${POLICY_REFRESH:-0}
[user]
state_dir = $TEST_TMP/$1/user
aepolicy = ${2:-7}
[machine]
keytab = $AE_LAB_DIR/ws1.keytab
state_dir = $TEST_TMP/$1/machine
aepolicy = ${2:-7}
CONF
}
# pulse_user NAME [OFFSET]: alice's pulse; JSON result in $TEST_TMP/r.json
pulse_user() {
	as_user alice env AUTOENROLL_LIBEXECDIR="$AE_BIN" AE_JOURNAL_SOCKET="$SOCK" \
		AE_TEST_NOW_OFFSET="${2:-0}" "$AUTOENROLL" pulse --user --wait --json -c "$TEST_TMP/$1.conf" \
		>"$TEST_TMP/r.json" 2>"$TEST_TMP/r.err"
}
pulse_machine() {
	as_machine env AUTOENROLL_LIBEXECDIR="$AE_BIN" AE_JOURNAL_SOCKET="$SOCK" \
		AE_TEST_NOW_OFFSET="${2:-0}" "$AUTOENROLL" pulse --machine --wait --json -c "$TEST_TMP/$1.conf" \
		>"$TEST_TMP/r.json" 2>"$TEST_TMP/r.err"
}
ev() { jq -r --arg e "$1" --arg t "${2:-}" '[.events[] | select(.event==$e and ($t=="" or .template==$t))] | length' "$TEST_TMP/r.json"; }
records() { # NAME [user|machine] -> status JSON
	"$AUTOENROLL" status --"${2:-user}" --json -c "$TEST_TMP/$1.conf" 2>/dev/null
}
nrec() { # NAME TEMPLATE STATE [context]
	records "$1" "${4:-user}" | jq -r --arg t "$2" --arg s "$3" '[.records[] | select(.template==$t and .state==$s)] | length'
}
rec_id() { records "$1" | jq -r --arg t "$2" '.records[] | select(.template==$t and .state=="issued") | .id' | head -1; }
mark() { wc -l <"$CALOG"; }
calog_since() { tail -n +$(($1 + 1)) "$CALOG"; }
ca_count() { # SINCE TEMPLATE [request_type]
	calog_since "$1" | jq -s --arg t "$2" --arg k "${3:-}" '[.[] | select(.template==$t and ($k=="" or .request_type==$k))] | length'
}
show() { diag "$(jq -c '[.events[] | {event, template, message}]' "$TEST_TMP/r.json" 2>/dev/null | head -c 3000)" "$(head -c 1500 "$TEST_TMP/r.err")"; }

# ===== machine: first pulse, trust, second pulse =====
conf m
m0=$(mark)
pulse_machine m; rc=$?
ok $rc "machine pulse runs"
[ "$(ev enrolled LabMachine)" = 1 ] && [ "$(nrec m LabMachine issued machine)" = 1 ]
ok $? "the machine enrolls for LabMachine" || show
[ "$(ca_count "$m0" LabMachine)" = 1 ] && calog_since "$m0" | jq -e 'select(.template=="LabMachine") | .caller=="WS1$@CORP.TEST"' >/dev/null
ok $? "the CA saw one request from WS1\$"
[ "$(ev skipped LabMachineInteractive)" = 1 ] && jq -e '.events[] | select(.template=="LabMachineInteractive") | .message | test("user interaction")' "$TEST_TMP/r.json" >/dev/null
ok $? "machine template requiring user interaction: skipped, and the reason says so"
[ "$(ca_count "$m0" LabMachineInteractive)" = 0 ]; ok $? "... and never requested"
tdir=$TEST_TMP/m/machine/trust
[ "$(ls "$tdir/roots" | wc -l)" -ge 1 ] && [ "$(ls "$tdir/intermediates" | wc -l)" -ge 1 ] && [ "$(ls "$tdir/ntauth" | wc -l)" -ge 1 ]
ok $? "trust from AD: roots, AIA intermediates and NTAuth written"
cmp -s <(openssl x509 -in "$tdir/roots.pem" -outform DER) "$AE_LAB_DIR/pki/root.der" ||
	openssl x509 -in "$tdir/roots.pem" -noout -fingerprint -sha256 | grep -qi "$(openssl x509 -in "$AE_LAB_DIR/pki/root.pem" -noout -fingerprint -sha256 | cut -d= -f2)"
ok $? "the root bundle is the lab root"
[ "$(ev trust-updated)" = 1 ]; ok $? "trust-updated event"
grep -q "1.3.6.1.4.1.311" "$TEST_TMP/m/machine/oids"; ok $? "OIDs from AD cached locally"
touch "$tdir/roots/0000stale.pem"
m1=$(mark)
pulse_machine m
[ ! -e "$tdir/roots/0000stale.pem" ]; ok $? "what AD no longer lists is removed from the trust directory"
[ "$(ev enrolled)" = 0 ] && [ "$(ev renewed)" = 0 ] && [ "$(ca_count "$m1" LabMachine)" = 0 ]
ok $? "two pulses in a row: the second changes nothing"
# The cheap check: a recent policy and nothing due means no network.
POLICY_REFRESH=600 conf m
pulse_machine m
pulse_machine m
jq -e '.nothing_to_do and .policy_from_cache and .ldap_round_trips==0 and .rpc_round_trips==0' "$TEST_TMP/r.json" >/dev/null
ok $? "a pulse with nothing to do within policy_refresh: no LDAP, no RPC" || show
conf m

# ===== machine: two pulses at once =====
conf mc
m0=$(mark)
pids=
for i in 1 2; do
	as_machine env AUTOENROLL_LIBEXECDIR="$AE_BIN" AE_JOURNAL_SOCKET="$SOCK" \
		"$AE_BIN/autoenroll-machine" -c "$TEST_TMP/mc.conf" >"$TEST_TMP/mc$i.out" 2>&1 &
	pids="$pids $!"
done
wait $pids
[ "$(nrec mc LabMachine issued machine)" = 1 ] && [ "$(ca_count "$m0" LabMachine)" = 1 ]
ok $? "two pulses at once: one certificate, one request (one ran, the other coalesced or found it done)"
diag "$(cat "$TEST_TMP/mc1.out" "$TEST_TMP/mc2.out" | head -c 600)"
# Ten pulses at the same moment (each, once in the lab, waits for
# $TEST_TMP/go, then execs the helper): one takes the lock and runs, the
# nine others coalesce into it; one certificate, records that parse,
# nothing left behind.
conf mt
m0=$(mark)
pids=
for i in $(seq 10); do
	as_machine env AUTOENROLL_LIBEXECDIR="$AE_BIN" AE_JOURNAL_SOCKET="$SOCK" sh -c \
		'touch "$1.ready.$$"; while [ ! -e "$1" ]; do sleep 0.01; done; shift; exec "$@"' - "$TEST_TMP/go" \
		"$AE_BIN/autoenroll-machine" --json -c "$TEST_TMP/mt.conf" >"$TEST_TMP/mt$i.out" 2>"$TEST_TMP/mt$i.err" &
	pids="$pids $!"
done
for _ in $(seq 600); do [ "$(ls "$TEST_TMP" | grep -c '^go\.ready\.')" -ge 10 ] && break; sleep 0.1; done
touch "$TEST_TMP/go"
wait $pids
ran=0 coalesced=0
for i in $(seq 10); do
	if jq -e '.coalesced == true' "$TEST_TMP/mt$i.out" >/dev/null 2>&1; then coalesced=$((coalesced + 1))
	elif jq -e '.ok == true' "$TEST_TMP/mt$i.out" >/dev/null 2>&1; then ran=$((ran + 1))
	fi
done
[ $ran -eq 1 ] && [ $coalesced -eq 9 ]
ok $? "ten pulses at once: one runs, nine coalesce on the pulse lock (ran $ran, coalesced $coalesced)" ||
	diag "$(head -c 300 "$TEST_TMP"/mt*.err)"
[ "$(nrec mt LabMachine issued machine)" = 1 ] && [ "$(ca_count "$m0" LabMachine)" = 1 ]
ok $? "... one LabMachine certificate, one request at the CA"
mtd=$TEST_TMP/mt/machine
records mt machine >"$TEST_TMP/mt.status" && [ "$(jq '.records | length' "$TEST_TMP/mt.status")" = "$(ls "$mtd/records" | wc -l)" ] &&
	jq -e . "$mtd/last-pulse.json" >/dev/null && [ -z "$(find "$mtd" -name '*.tmp*')" ] && [ ! -e "$mtd/pulse.again" ]
ok $? "... every record parses, last-pulse.json parses, no temporary file or pending trigger left" || find "$mtd" | sed 's/^/# /'
# A pulse running (its lock held): a trigger is coalesced, not lost.
exec 7>"$TEST_TMP/mc/machine/pulse.lock"
flock 7
as_machine env AUTOENROLL_LIBEXECDIR="$AE_BIN" AE_JOURNAL_SOCKET="$SOCK" \
	"$AE_BIN/autoenroll-machine" -c "$TEST_TMP/mc.conf" >"$TEST_TMP/mc3.out" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q "runs once more" "$TEST_TMP/mc3.out" && [ -e "$TEST_TMP/mc/machine/pulse.again" ]
ok $? "a trigger while a pulse runs is coalesced (pulse.again left for the running pulse)"
exec 7>&-
as_machine env AUTOENROLL_LIBEXECDIR="$AE_BIN" AE_JOURNAL_SOCKET="$SOCK" \
	"$AE_BIN/autoenroll-machine" -c "$TEST_TMP/mc.conf" >/dev/null 2>&1
[ ! -e "$TEST_TMP/mc/machine/pulse.again" ]; ok $? "the next pulse takes the coalesced trigger on"
[ "$(id -u)" -eq 0 ] && su -s /bin/sh nobody -c "$AUTOENROLL pulse --machine" >/dev/null 2>"$TEST_TMP/err"
[ $? -ne 0 ] && grep -q "needs root" "$TEST_TMP/err"; ok $? "the machine pulse needs root"

# ===== user: first pulse =====
conf a
a0=$(mark)
pulse_user a
rc=$?
[ $rc -eq 0 ] && jq -e '.ok == true and .counts.failed == 0' "$TEST_TMP/r.json" >/dev/null
ok $? "alice's pulse runs, no template fails: exit 0" || { diag "rc=$rc"; show; }
[ "$(ev enrolled LabUser)" = 1 ] && [ "$(ev enrolled LabShort)" = 1 ]; ok $? "LabUser and LabShort enrolled" || show
[ "$(ev pending LabPending)" = 1 ] && [ "$(nrec a LabPending pending)" = 1 ]; ok $? "LabPending is pending, kept in the REQUEST store"
[ "$(ca_count "$a0" LabRA2)" = 0 ] && [ "$(ca_count "$a0" LabRA)" = 0 ] && [ "$(nrec a LabRA2 issued)" = 0 ]
ok $? "RA 2: never requested; RA 1 without a signing certificate: not requested"
[ "$(ca_count "$a0" LabArchive)" = 0 ] && jq -e '.events[] | select(.event=="skipped" and .template=="LabArchive") | .message | test("archival")' "$TEST_TMP/r.json" >/dev/null
ok $? "key archival required: skipped with a reason that says so"
[ "$(ev needs-user LabInteractive)" = 1 ] && [ "$(ca_count "$a0" LabInteractive)" = 0 ]
ok $? "user interaction required: not enrolled silently, waits for the user"
[ "$(ev enrolled LabOld)" = 0 ] && [ "$(ev enrolled LabNew)" = 1 ]; ok $? "superseded template not enrolled, its successor is"
[ "$(ca_count "$a0" LabUnpublished)" = 0 ]; ok $? "an unpublished template is not requested"
tail -n 200 "$EVENTS" | jq -s -e 'map(select(.AUTOENROLL_EVENT=="enrolled" and .AUTOENROLL_TEMPLATE=="LabUser" and .AUTOENROLL_CONTEXT=="user" and .WINDOWS_EVENT_ID=="1006" and (.AUTOENROLL_REQUEST_ID|tonumber)>0 and (.MESSAGE_ID|length)==32 and .SYSLOG_IDENTIFIER=="autoenroll-user")) | length == 1' >/dev/null
ok $? "journal: an enrolled event with MESSAGE_ID, template, request ID and Windows event 1006"
tail -n 200 "$EVENTS" | jq -s -e 'map(select(.AUTOENROLL_EVENT=="pulse-completed" and .WINDOWS_EVENT_ID=="3")) | length >= 1' >/dev/null
ok $? "journal: pulse completed (Windows event 3)"
a1=$(mark)
pulse_user a
[ "$(ev enrolled)" = 0 ] && [ "$(ev renewed)" = 0 ] && [ "$(calog_since "$a1" | jq -s '[.[] | select(.request_type!="retrieve")] | length')" = 0 ]
ok $? "alice: two pulses in a row, the second asks for nothing new" || { show; calog_since "$a1" | head -3 | jq -c '{template,request_type}'; }

# ===== 79 % versus 81 %: renewal period (12 h) over 20 % of a 1-day lifetime =====
tpl_set LabShort pKIOverlapPeriod "$(period $((12 * 3600)))"
s=$(rec_id a LabShort)
a1=$(mark)
pulse_user a $((DAY * 60 / 100))
[ "$(ev renewed LabShort)" = 0 ]; ok $? "renewal period > 20 %: not renewed at 60 % although within the renewal period"
pulse_user a $((DAY * 79 / 100))
[ "$(ev renewed LabShort)" = 0 ]; ok $? "79 % of the lifetime: not renewed"
pulse_user a $((DAY * 81 / 100))
[ "$(ev renewed LabShort)" = 1 ] && [ "$(ca_count "$a1" LabShort renewal)" = 1 ]
ok $? "81 % of the lifetime: renewed, as a renewal signed with the old key" || show
[ "$(records a | jq -r --arg i "$s" '.records[] | select(.id==$i) | .state')" = archived ]
ok $? "the renewed certificate is archived"
[ "$(ev archived LabShort)" = 1 ]; ok $? "archived event"
# Renewal period under 20 % (2 h of 24 h): the period decides, not 80 %.
tpl_set LabShort pKIOverlapPeriod "$(period 7200)"
a1=$(mark)
pulse_user a $((DAY * 81 / 100))
[ "$(ev renewed LabShort)" = 0 ]; ok $? "renewal period 2 h: not renewed at 81 %"
pulse_user a $((DAY * 93 / 100))
[ "$(ev renewed LabShort)" = 1 ]; ok $? "renewal period 2 h: renewed within the last 2 h" || show

# ===== major and minor versions =====
u=$(rec_id a LabUser)
tpl_set LabUser msPKI-Template-Minor-Revision 5
a1=$(mark)
pulse_user a
[ "$(ev renewed LabUser)" = 0 ] && [ "$(ca_count "$a1" LabUser)" = 0 ]; ok $? "minor version raised: no renewal"
tpl_set LabUser revision 101
pulse_user a
[ "$(ev renewed LabUser)" = 1 ] && [ "$(ca_count "$a1" LabUser renewal)" = 1 ]; ok $? "major version raised: renewed at once" || show
[ "$(records a | jq -r '[.records[] | select(.template=="LabUser" and .state=="issued")][0].major')" = 101 ]
ok $? "the new certificate carries major version 101"
pulse_user a
[ "$(ev renewed LabUser)" = 0 ]; ok $? "... and is not renewed again"
tpl_set LabUser revision 100
tpl_set LabUser msPKI-Template-Minor-Revision 0

# ===== superseded template =====
conf s
as_user alice env AUTOENROLL_LIBEXECDIR="$AE_BIN" "$AUTOENROLL" enroll --template LabOld -c "$TEST_TMP/s.conf" >/dev/null 2>&1
old=$(rec_id s LabOld)
[ -n "$old" ]; ok $? "a LabOld certificate enrolled by hand"
pulse_user s
[ "$(ev enrolled LabNew)" = 1 ] && [ "$(records s | jq -r --arg i "$old" '.records[] | select(.id==$i) | .state')" = archived ]
ok $? "superseded: the superseding LabNew is enrolled and the LabOld certificate archived" || show

# ===== pending: 59 versus 61 days, denied, issued with renewal cleanup =====
pend_id() { records "$1" | jq -r '.records[] | select(.template=="LabPending" and .state=="pending") | .id' | head -1; }
pend_rid() { records "$1" | jq -r '.records[] | select(.template=="LabPending" and .state=="pending") | .request_id' | head -1; }
has_rec() { [ -n "$(records "$1" | jq -r --arg i "$2" '.records[] | select(.id==$i) | .id')" ]; }
pid=$(pend_id a)
pulse_user a $((59 * DAY))
has_rec a "$pid" && [ "$(ev pending-expired)" = 0 ] && [ "$(ev pending LabPending)" = 1 ]
ok $? "pending 59 days: kept and asked for again" || show
pulse_user a $((61 * DAY))
! has_rec a "$pid" && [ ! -e "$TEST_TMP/a/user/keys/$pid.key" ] && [ "$(ev pending-expired LabPending)" = 1 ]
ok $? "pending 61 days: deleted with its key (and requested anew)" || show
conf p
pulse_user p
rid=$(pend_rid p)
pid=$(pend_id p)
"$LABCTL" deny "$rid" >/dev/null 2>&1
pulse_user p; rc=$?
[ $rc -eq 3 ] && jq -e '.ok == true and .counts.failed >= 1' "$TEST_TMP/r.json" >/dev/null
ok $? "a pulse where the CA denied a request: exit 3 (completed with failures), ok and counts.failed in the JSON" || diag "rc=$rc"
[ "$(ev denied LabPending)" = 1 ] && ! has_rec p "$pid" && [ ! -e "$TEST_TMP/p/user/keys/$pid.key" ]
ok $? "pending then denied: the request and its key are removed" || show
jq -e '.events[] | select(.event=="denied") | .message | test("denied|Denied")' "$TEST_TMP/r.json" >/dev/null; ok $? "... and the event says it was denied"
rid=$(pend_rid p) # the same pulse asked anew
"$LABCTL" approve "$rid" >/dev/null 2>&1
pulse_user p
[ "$(ev retrieved LabPending)" = 1 ] && [ "$(nrec p LabPending issued)" = 1 ] && [ "$(ev pending LabPending)" = 0 ]
ok $? "pending then issued: retrieved and installed with its key (and not asked for again)" || show
first=$(rec_id p LabPending)
tpl_set LabPending revision 101
pulse_user p
[ "$(ev pending LabPending)" = 1 ] && [ "$(nrec p LabPending issued)" = 1 ]; ok $? "a renewal that goes pending keeps the current certificate" || show
rid=$(pend_rid p)
"$LABCTL" approve "$rid" >/dev/null 2>&1
pulse_user p
[ "$(ev retrieved LabPending)" = 1 ] && [ "$(records p | jq -r --arg i "$first" '.records[] | select(.id==$i) | .state')" = archived ]
ok $? "pending renewal issued: installed, and the renewed certificate archived (renewal cleanup)" || show
tpl_set LabPending revision 100

# ===== RA 1 with a signing certificate; Manage on and off =====
conf r
tpl_set LabRA msPKI-RA-Signature 0
as_user alice env AUTOENROLL_LIBEXECDIR="$AE_BIN" "$AUTOENROLL" enroll --template LabRA -c "$TEST_TMP/r.conf" >/dev/null 2>&1
tpl_set LabRA msPKI-RA-Signature 1
tpl_set LabRA msPKI-Enrollment-Flag $((0x29 | 0x40)) # PREVIOUS_APPROVAL_VALIDATE_REENROLLMENT
ra=$(rec_id r LabRA)
[ -n "$ra" ]; ok $? "a LabRA certificate enrolled by hand (through an agent, in real life)"
tpl_set LabRA revision 101
conf r 5 # Enroll and RetrievePending, no Manage
a1=$(mark)
pulse_user r
[ "$(ca_count "$a1" LabRA)" = 0 ]; ok $? "Manage off: the manually enrolled certificate is not renewed"
conf r 7
pulse_user r
[ "$(ev renewed LabRA)" = 1 ] && [ "$(ca_count "$a1" LabRA renewal)" = 1 ]
ok $? "RA 1 with a signing certificate, Manage on: renewed, signed with the existing certificate" || show
tpl_set LabRA revision 100
tpl_set LabRA msPKI-Enrollment-Flag 41

# ===== Enroll off, disabled =====
conf e 6 # Manage and RetrievePending only
a1=$(mark)
pulse_user e
[ "$(calog_since "$a1" | jq -s length)" = 0 ] && [ "$(ev enrolled)" = 0 ]; ok $? "Enroll off: nothing new is requested"
conf d disabled
pulse_user d
[ "$(ev disabled)" = 1 ] && [ "$(calog_since "$a1" | jq -s length)" = 0 ] && [ "$(records d | jq '.records | length')" = 0 ]
ok $? "disabled: nothing is done at all"

# ===== expired certificate: a new request, not a renewal =====
conf x
tpl_set LabShort pKIExpirationPeriod "$(period 8)"
tpl_set LabShort pKIOverlapPeriod "$(period 1)"
pulse_user x
xo=$(rec_id x LabShort)
sleep 9
a1=$(mark)
pulse_user x
[ "$(ca_count "$a1" LabShort pkcs10)" = 1 ] && [ "$(ca_count "$a1" LabShort renewal)" = 0 ] && [ "$(ev enrolled LabShort)" = 1 ]
ok $? "expired certificate: a new request, not a renewal" || show
[ "$(records x | jq -r --arg i "$xo" '.records[] | select(.id==$i) | .state')" = archived ]; ok $? "the expired certificate is archived"
# With "delete revoked or expired certificates" the expired one is deleted.
tpl_set LabShort msPKI-Enrollment-Flag $((0x29 | 0x400))
sleep 9
xo=$(rec_id x LabShort)
pulse_user x
[ "$(ev deleted LabShort)" = 1 ] && [ -z "$(records x | jq -r --arg i "$xo" '.records[] | select(.id==$i) | .id')" ] &&
	[ ! -e "$TEST_TMP/x/user/keys/$xo.key" ]
ok $? "REMOVE_INVALID_CERTIFICATE: the expired certificate is deleted with its key" || show
tpl_set LabShort pKIExpirationPeriod "$(period $DAY)"
tpl_set LabShort pKIOverlapPeriod "$(period 7200)"
tpl_set LabShort msPKI-Enrollment-Flag 41

# ===== revoked certificate =====
u=$(rec_id a LabUser)
serial=$(openssl x509 -in "$TEST_TMP/a/user/certs/$u.pem" -noout -serial | cut -d= -f2)
"$LABCTL" revoke "$serial" 1 >/dev/null 2>&1
a1=$(mark)
pulse_user a
[ "$(ca_count "$a1" LabUser pkcs10)" = 1 ] && [ "$(ev enrolled LabUser)" = 1 ] &&
	[ "$(records a | jq -r --arg i "$u" '.records[] | select(.id==$i) | .state')" = archived ]
ok $? "revoked certificate (CRL over HTTP): a new request, the revoked one archived" || show
jq -e --arg i "$u" '.events[] | select(.event=="enrolled" and .template=="LabUser") | .message | test("revoked")' "$TEST_TMP/r.json" >/dev/null
ok $? "... and the event says it was revoked"

# ===== template no longer published =====
u=$(rec_id a LabUser)
publish delete LabUser
tpl_set LabUser revision 101
a1=$(mark)
pulse_user a
[ "$(ca_count "$a1" LabUser)" = 0 ] && [ "$(rec_id a LabUser)" = "$u" ]
ok $? "template no longer published (the CA no longer serves it): kept, not renewed"
jq -e '.events[] | select(.event=="skipped" and .template=="LabUser") | .message | test("published")' "$TEST_TMP/r.json" >/dev/null
ok $? "... with a reason that says so" || show
publish add LabUser
tpl_set LabUser revision 100

# ===== failures: the DC unreachable is a retry, not an error storm =====
conf f
in_lab nft -f - <<'NFT'
table inet aepulse {
	chain out { type filter hook output priority 0; ip daddr 127.0.0.10 drop; }
}
NFT
sed -i 's/^\[global\]/[global]\nldap_timeout = 2\ndns_timeout = 1/' "$TEST_TMP/f.conf"
as_machine env AUTOENROLL_LIBEXECDIR="$AE_BIN" AE_JOURNAL_SOCKET="$SOCK" "$AE_BIN/autoenroll-machine" \
	--json -c "$TEST_TMP/f.conf" >"$TEST_TMP/r.json" 2>"$TEST_TMP/r.err"
rc=$?
in_lab nft delete table inet aepulse
[ $rc -eq 75 ] && jq -e '.ok==false and .retry==true' "$TEST_TMP/r.json" >/dev/null && [ "$(ev pulse-failed)" = 1 ]
ok $? "DC unreachable: one pulse-failed event, exit 75 (retried at the next trigger)" || { diag "rc=$rc"; show; }

rm -f "$SOCK"
done_testing
