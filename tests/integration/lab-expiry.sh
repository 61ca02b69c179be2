#!/bin/bash
# lab-expiry.sh - three whitepaper rules against the lab, each asserting
# what Windows does:
#   1. the offline expiry warning (Group Policy's OfflineExpirationPercent,
#      expiry_warning_percent here): a certificate with 10 % or less of its
#      lifetime left that nothing renewed (template no longer published,
#      CA unreachable) is an "expiring" event and a notification in
#      alice's session; not when the renewal succeeded, not above the
#      threshold;
#   2. cross-certificates (crossCertificatePair in CN=AIA) are downloaded
#      with the intermediates;
#   3. encryption certificates are archived on renewal and never deleted,
#      even when the template deletes invalid certificates.
#
# alice's pulses run as nobody (autoenroll-notify refuses root) with a
# copy of her ticket, a private session bus and python3-dbusmock's
# notification server.  Time: AE_TEST_NOW_OFFSET shifts autoenroll's own
# clock, as in lab-pulse.sh.
. "$(dirname "$0")/lib.sh"
lab_require
. <("$LABCTL" env)
PY=/usr/bin/python3
PKS="CN=Public Key Services,CN=Services,$AE_LAB_CONFIG_NC"
CA_DN="CN=CORP-CA1,CN=Enrollment Services,$PKS"
CROSS_DN="CN=Lab Partner Root,CN=AIA,$PKS"
DAY=86400

journal_sink
chmod 755 "$TEST_TMP"
chmod 666 "$SOCK"

ldapmod() { "$LABCTL" run --admin -- ldapmodify -Q -Y GSSAPI -H ldap://dc1.corp.test >/dev/null 2>&1; }
publish() { # add|delete TEMPLATE
	printf 'dn: %s\nchangetype: modify\n%s: certificateTemplates\ncertificateTemplates: %s\n' "$CA_DN" "$1" "$2" | ldapmod
}
pids=()
# Everything this test changes in AD goes back to the lab's values.
restore() {
	publish add LabShort 2>/dev/null
	publish delete LabEncrypt 2>/dev/null
	in_lab nft delete table inet aeexpiry 2>/dev/null
	printf 'dn: %s\nchangetype: delete\n' "$CROSS_DN" | ldapmod
}
cleanup_all() {
	local p
	restore
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	kill "$sink" 2>/dev/null
	rm -rf "$TEST_TMP"
}
trap cleanup_all EXIT
restore

U=$TEST_TMP/u # nobody's: state, ticket copy, bus
mkdir -p "$U/user"
cat >"$TEST_TMP/e.conf" <<CONF
[global]
rpc_timeout = 10
crl_timeout = 5
policy_refresh = 0
[user]
state_dir = $U/user
store = file:$U/user
cert_dir = none
hooks_dir = none
# The offer of LabInteractive (needs the user) is withdrawn after 1 s:
# autoenroll-notify, which the session pulse becomes, then exits.
notify_expire = 1
[machine]
keytab = $AE_LAB_DIR/ws1.keytab
state_dir = $TEST_TMP/m
CONF
chmod 644 "$TEST_TMP/e.conf"
chown -R nobody:nogroup "$U"
AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)

# alice's session bus and notification server, as nobody.
BUS=
if command -v dbus-daemon >/dev/null && "$PY" -c 'import dbusmock' 2>/dev/null; then
	BUS=unix:path=$U/bus
	"${AS_NOBODY[@]}" dbus-daemon --session --address="$BUS" --fork --print-pid=1 --nopidfile >"$TEST_TMP/bus.pid"
	pids+=("$(cat "$TEST_TMP/bus.pid")")
	NLOG=$U/notify.log
	"${AS_NOBODY[@]}" env DBUS_SESSION_BUS_ADDRESS="$BUS" "$PY" -m dbusmock --template notification_daemon \
		-l "$NLOG" >/dev/null 2>&1 &
	pids+=("$!")
	for _ in $(seq 50); do [ -s "$NLOG" ] || "${AS_NOBODY[@]}" env DBUS_SESSION_BUS_ADDRESS="$BUS" \
		"$PY" -c 'import dbus,sys; sys.exit(not dbus.SessionBus().name_has_owner("org.freedesktop.Notifications"))' \
		2>/dev/null && break; sleep 0.1; done
fi

# session OFFSET: alice's login pulse (autoenroll-user --session --express)
# as nobody; JSON in $TEST_TMP/r.json, stderr (autoenroll-notify's too) in r.err.
session() {
	as_user alice sh -c 'cp "${KRB5CCNAME#FILE:}" "$1" && chown nobody "$1"' _ "$U/cc"
	in_lab "${AS_NOBODY[@]}" env KRB5CCNAME="FILE:$U/cc" DBUS_SESSION_BUS_ADDRESS="${BUS:-unix:path=/nonexistent}" \
		AE_JOURNAL_SOCKET="$SOCK" AE_TEST_NOW_OFFSET="${1:-0}" \
		"$AE_BIN/autoenroll-user" --session --express --wait --json -c "$TEST_TMP/e.conf" \
		>"$TEST_TMP/r.json" 2>"$TEST_TMP/r.err"
}
ev() { jq -r --arg e "$1" --arg t "${2:-}" '[.events[] | select(.event==$e and ($t=="" or .template==$t))] | length' "$TEST_TMP/r.json"; }
records() { "${AS_NOBODY[@]}" env AE_TEST_NOW_OFFSET="${1:-0}" "$AUTOENROLL" status --user --json -c "$TEST_TMP/e.conf" 2>/dev/null; }
rec() { # TEMPLATE STATE -> ids
	records | jq -r --arg t "$1" --arg s "$2" '.records[] | select(.template==$t and .state==$s) | .id'
}
notes() { grep -c '^[0-9.]* Notify .*"Certificate about to expire"' "$NLOG" 2>/dev/null; }
show() { diag "$(jq -c '[.events[] | {event, template, message}]' "$TEST_TMP/r.json" 2>/dev/null | head -c 3000)" "$(head -c 1500 "$TEST_TMP/r.err")"; }

# ===== 1. the expiry warning =====
session 0
ok $? "alice's first session pulse enrolls" || show
s=$(rec LabShort issued)
[ -n "$s" ] && [ "$(ev expiring)" = 0 ]; ok $? "fresh certificates: no expiry warning" || show
publish delete LabShort
session $((DAY * 85 / 100))
[ "$(ev skipped LabShort)" = 1 ] && [ "$(ev expiring LabShort)" = 0 ]
ok $? "template no longer published, 15 % of the lifetime left: skipped, no warning (threshold 10 %)" || show
session $((DAY * 95 / 100))
[ "$(ev expiring LabShort)" = 1 ] && [ "$(ev renewed LabShort)" = 0 ]
ok $? "template no longer published, 5 % left: an expiring event" || show
jq -e --arg i "$s" '.events[] | select(.event=="expiring") | .id==$i and (.message | test("% of its lifetime left, warned at 10%") and test("not published by any CA"))' \
	"$TEST_TMP/r.json" >/dev/null
ok $? "... naming the certificate, what is left and why nothing renewed it" || show
tail -n 50 "$EVENTS" | jq -s -e 'map(select(.MESSAGE_ID=="870252989cc2416088cd1bb1a8e362c5" and .AUTOENROLL_TEMPLATE=="LabShort" and .WINDOWS_EVENT_ID=="1003")) | length == 1' >/dev/null
ok $? "journal: MESSAGE_ID of expiring, Windows event 1003"
if [ -n "$BUS" ]; then
	for _ in $(seq 30); do [ "$(notes)" -ge 1 ] && break; sleep 0.1; done
	[ "$(notes)" = 1 ] && grep -q '"<b>LabShort</b>: the LabShort certificate of the user expires in .* not published by any CA$' "$NLOG"
	ok $? "alice's session: one notification \"Certificate about to expire\" naming LabShort" || diag "$(cat "$NLOG" "$TEST_TMP/r.err")"
	grep -A3 '^[0-9.]* Notify .*"Certificate about to expire"' "$NLOG" | grep -m1 '{"urgency"' | grep -q '\[\] {"urgency"'
	ok $? "... a warning with nothing to select" || diag "$(cat "$NLOG")"
else
	echo "ok $((tap_n += 1)) # SKIP dbus-daemon or python3-dbusmock missing: no notification checked"
	echo "ok $((tap_n += 1)) # SKIP dbus-daemon or python3-dbusmock missing"
fi
records $((DAY * 95 / 100)) | jq -e --arg i "$s" '.records[] | select(.id==$i) | .certificate.expiry_warning == true' >/dev/null &&
	"${AS_NOBODY[@]}" env AE_TEST_NOW_OFFSET=$((DAY * 95 / 100)) "$AUTOENROLL" status --user -c "$TEST_TMP/e.conf" |
	grep -q "WARNING: 10% or less"
ok $? "status and status --json show the warning"
records | jq -e --arg i "$s" '.records[] | select(.id==$i) | .certificate.expiry_warning == false' >/dev/null
ok $? "... and not for the same certificate earlier in its life"
# Published again, but the CA unreachable (connections refused): the
# renewal fails, the warning says so.
publish add LabShort
in_lab nft -f - <<NFT
table inet aeexpiry {
	chain out { type filter hook output priority 0; ip daddr $AE_LAB_CA_ADDR tcp flags syn reject with tcp reset; }
}
NFT
session $((DAY * 95 / 100))
in_lab nft delete table inet aeexpiry
[ "$(ev failed LabShort)" = 1 ] && [ "$(ev expiring LabShort)" = 1 ] &&
	jq -e '.events[] | select(.event=="expiring") | .message | test("was not renewed: Certificate enrollment for the user failed to enroll for a LabShort certificate from CORP-CA1")' "$TEST_TMP/r.json" >/dev/null
ok $? "the CA unreachable, 5 % left: the renewal fails, and the warning gives the failure" || show
# Negative: the CA back, the renewal succeeds: no warning.
n0=$(notes)
session $((DAY * 95 / 100))
[ "$(ev renewed LabShort)" = 1 ] && [ "$(ev expiring)" = 0 ]
ok $? "template published again, 5 % left: renewed, and no warning" || show
sleep 0.5
[ "$(notes)" = "$n0" ]; ok $? "... and no notification"

# ===== 2. cross-certificates =====
X=$TEST_TMP/x
mkdir -p "$X"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$X/partner.key" -subj "/CN=Lab Partner Root" -days 30 \
	-addext basicConstraints=critical,CA:TRUE -out "$X/partner.pem" 2>/dev/null
root_subj=$(openssl x509 -in "$AE_LAB_DIR/pki/root.pem" -noout -subject -nameopt compat | sed 's/^subject=//')
printf 'basicConstraints=critical,CA:TRUE\n' >"$X/ext"
# forward: the partner root certifies the lab root's key; reverse: the lab root certifies the partner's.
openssl req -new -key "$AE_LAB_DIR/pki/root.key" -subj "$root_subj" 2>/dev/null |
	openssl x509 -req -CA "$X/partner.pem" -CAkey "$X/partner.key" -set_serial 7 -days 30 -extfile "$X/ext" \
		-outform DER -out "$X/forward.der" 2>/dev/null
openssl req -new -key "$X/partner.key" -subj "/CN=Lab Partner Root" 2>/dev/null |
	openssl x509 -req -CA "$AE_LAB_DIR/pki/root.pem" -CAkey "$AE_LAB_DIR/pki/root.key" -set_serial 8 -days 30 \
		-extfile "$X/ext" -outform DER -out "$X/reverse.der" 2>/dev/null
# CertificatePair ::= SEQUENCE { forward [0] EXPLICIT Certificate, reverse [1] EXPLICIT Certificate }
"$PY" - "$X" <<'PY'
import sys
def tlv(tag, body):
    n = len(body)
    ln = bytes([n]) if n < 128 else bytes([0x81, n]) if n < 256 else bytes([0x82, n >> 8, n & 255])
    return bytes([tag]) + ln + body
d = sys.argv[1]
f, r = (open("%s/%s.der" % (d, k), "rb").read() for k in ("forward", "reverse"))
open(d + "/pair.der", "wb").write(tlv(0x30, tlv(0xa0, f) + tlv(0xa1, r)))
PY
openssl asn1parse -inform DER -in "$X/pair.der" >/dev/null 2>&1 && [ -s "$X/forward.der" ] && [ -s "$X/reverse.der" ]
ok $? "a cross-certificate pair made with openssl"
# As certutil -dspublish -f CROSS.crt CrossCA: the pair in CN=AIA, the
# class's mandatory attributes as placeholders.
printf 'dn: %s\nchangetype: add\nobjectClass: certificationAuthority\ncACertificate:: AA==\nauthorityRevocationList:: AA==\ncertificateRevocationList:: AA==\ncrossCertificatePair:: %s\n' \
	"$CROSS_DN" "$(base64 -w0 "$X/pair.der")" | ldapmod
ok $? "cross-certificate object in CN=AIA"
as_machine env AUTOENROLL_LIBEXECDIR="$AE_BIN" AE_JOURNAL_SOCKET="$SOCK" "$AUTOENROLL" pulse --machine --wait --json \
	-c "$TEST_TMP/e.conf" >"$TEST_TMP/r.json" 2>"$TEST_TMP/r.err"
tdir=$TEST_TMP/m/trust/intermediates
fp() { openssl x509 -inform DER -in "$1" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr 'A-F' 'a-f'; }
[ -e "$tdir/$(fp "$X/forward.der").pem" ] && [ -e "$tdir/$(fp "$X/reverse.der").pem" ]
ok $? "machine pulse: both certificates of the pair are in the intermediates, with the AIA CA" ||
	{ diag "$(ls "$tdir")"; show; }
[ "$(ls "$tdir" | wc -l)" -ge 3 ]; ok $? "... next to CORP-CA1 from cACertificate"
printf 'dn: %s\nchangetype: delete\n' "$CROSS_DN" | ldapmod
as_machine env AUTOENROLL_LIBEXECDIR="$AE_BIN" AE_JOURNAL_SOCKET="$SOCK" "$AUTOENROLL" pulse --machine --wait --json \
	-c "$TEST_TMP/e.conf" >"$TEST_TMP/r.json" 2>"$TEST_TMP/r.err"
[ ! -e "$tdir/$(fp "$X/forward.der").pem" ] && [ ! -e "$tdir/$(fp "$X/reverse.der").pem" ]
ok $? "the object removed from AD: the pair leaves the intermediates"

# ===== 3. encryption certificates: archived on renewal, never deleted =====
publish add LabEncrypt
session 0
e1=$(rec LabEncrypt issued)
[ "$(ev enrolled LabEncrypt)" = 1 ] && [ -n "$e1" ]; ok $? "LabEncrypt (keyEncipherment only, EFS) enrolled" || show
openssl x509 -in "$U/user/certs/$e1.pem" -noout -ext keyUsage 2>/dev/null | grep -q "Key Encipherment" &&
	! openssl x509 -in "$U/user/certs/$e1.pem" -noout -ext keyUsage | grep -q "Digital Signature"
ok $? "... its key usage is key encipherment alone"
# LabEncrypt's renewal period (2 h) decides: due at 92 % of its day.
session $((DAY * 95 / 100))
e2=$(rec LabEncrypt issued)
[ "$(ev renewed LabEncrypt)" = 1 ] && [ "$(ev archived LabEncrypt)" = 1 ] && [ -n "$e2" ] && [ "$e2" != "$e1" ] &&
	[ "$(records | jq -r --arg i "$e1" '.records[] | select(.id==$i) | .state')" = archived ] && [ -s "$U/user/keys/$e1.key" ]
ok $? "95 %: renewed; the old certificate archived with its key" || show
# Revoked: replaced by a new request.  The template deletes invalid
# certificates (0x400), as lab-pulse.sh shows for signature certificates,
# but not encryption ones.
serial=$(openssl x509 -in "$U/user/certs/$e2.pem" -noout -serial | cut -d= -f2)
"$LABCTL" revoke "$serial" 1 >/dev/null 2>&1
session 0
[ "$(ev enrolled LabEncrypt)" = 1 ] && [ "$(ev deleted LabEncrypt)" = 0 ] && [ "$(ev archived LabEncrypt)" = 1 ] &&
	[ "$(records | jq -r --arg i "$e2" '.records[] | select(.id==$i) | .state')" = archived ] && [ -s "$U/user/keys/$e2.key" ]
ok $? "revoked, REMOVE_INVALID_CERTIFICATE set: a new certificate; the revoked one archived with its key, not deleted" || show
session 0
[ "$(ev deleted)" = 0 ] && [ -s "$U/user/keys/$e1.key" ] && [ -s "$U/user/keys/$e2.key" ] &&
	[ "$(records | jq '[.records[] | select(.template=="LabEncrypt" and .state=="archived")] | length')" = 2 ]
ok $? "a later pulse keeps both archived encryption certificates and their keys" || show

done_testing
