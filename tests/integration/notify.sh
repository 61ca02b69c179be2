#!/bin/bash
# notify.sh - autoenroll-notify against a real session bus (a private
# dbus-daemon) and a real notification server (python3-dbusmock's
# notification_daemon template, which logs every call it gets): the text
# and its escaping, the delay, the expiry, a dismissal, the "Enroll"
# action running autoenroll-user (a stand-in script that records its
# arguments and environment: the real interactive enrollment is tested
# against the lab elsewhere), no session bus, SIGTERM, usage errors and
# the refusal to run as root.
#
# Everything runs as an unprivileged user: nobody when the test runs as
# root (make check in CI), else the calling user.
. "$(dirname "$0")/lib.sh"

NOTIFY=$top_builddir/autoenroll-notify
PY=/usr/bin/python3 # the system's: dbusmock and python3-dbus live there
command -v dbus-daemon >/dev/null 2>&1 || skip_all "dbus-daemon is not installed (tests/deps.sh installs it)"
"$PY" -c 'import dbusmock, dbus' 2>/dev/null || skip_all "python3-dbusmock is not installed (tests/deps.sh installs it)"
[ -x "$NOTIFY" ] || skip_all "autoenroll-notify is not built"

pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$TEST_TMP"
}
trap cleanup EXIT

# U: the unprivileged user's directory (bus socket, logs, records).
U=$TEST_TMP/u
mkdir -p "$U/run" "$U/empty" "$TEST_TMP/libexec"
if [ "$(id -u)" -eq 0 ]; then
	AS_USER=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
	chmod 755 "$TEST_TMP"
	chown -R nobody:nogroup "$U"
else
	AS_USER=()
fi

# The session bus: no service activation (dunst's .service file would
# otherwise stand in for a missing server), the user's own connections.
cat >"$TEST_TMP/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$U/run/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
chmod 644 "$TEST_TMP/bus.conf"
"${AS_USER[@]}" dbus-daemon --config-file="$TEST_TMP/bus.conf" --fork --print-address=1 --print-pid=1 \
	>"$TEST_TMP/bus.out" 2>"$TEST_TMP/bus.err"
BUS=$(sed -n 1p "$TEST_TMP/bus.out")
bus_pid=$(sed -n 2p "$TEST_TMP/bus.out")
[ -n "$bus_pid" ] && pids+=("$bus_pid")
if [ -z "$BUS" ]; then
	echo "not ok 1 - dbus-daemon started"
	diag "$(cat "$TEST_TMP/bus.err")"
	echo "1..1"
	exit 1
fi
export DBUS_SESSION_BUS_ADDRESS=$BUS

# The stand-in for autoenroll-user: records argv and environment, exits
# with $AE_TEST_STANDIN_RC (which also shows the environment got through).
cat >"$TEST_TMP/libexec/autoenroll-user" <<'SH'
#!/bin/sh
printf '%s\n' "$@" >"$AE_TEST_RECORD.argv"
env >"$AE_TEST_RECORD.env"
exit "${AE_TEST_STANDIN_RC:-0}"
SH
chmod 755 "$TEST_TMP/libexec" "$TEST_TMP/libexec/autoenroll-user"
export AUTOENROLL_LIBEXECDIR=$TEST_TMP/libexec AE_TEST_RECORD=$U/record

# Talks to the mock server: waits for it on the bus, emits its signals.
cat >"$TEST_TMP/mockctl.py" <<'PY'
import sys, time, dbus
bus = dbus.SessionBus()
if sys.argv[1] == "wait":
    for _ in range(100):
        if bus.name_has_owner("org.freedesktop.Notifications"):
            sys.exit(0)
        time.sleep(0.1)
    sys.exit(1)
name, sig, args = sys.argv[2], sys.argv[3], sys.argv[4:]
conv = [dbus.UInt32(int(a)) if t == "u" else dbus.String(a) for t, a in zip(sig, args)]
obj = bus.get_object("org.freedesktop.Notifications", "/org/freedesktop/Notifications")
obj.EmitSignal("org.freedesktop.Notifications", name, sig, conv, dbus_interface="org.freedesktop.DBus.Mock")
PY
chmod 644 "$TEST_TMP/mockctl.py"
mockctl() { "${AS_USER[@]}" "$PY" "$TEST_TMP/mockctl.py" "$@"; }
emit() { mockctl emit "$@"; }

mock_pid=
# start_mock NAME [CAPABILITIES]: a fresh server logging to $U/NAME.log
start_mock() {
	LOG=$U/$1.log
	"${AS_USER[@]}" "$PY" -m dbusmock --template notification_daemon -l "$LOG" \
		-p "{\"capabilities\": \"${2:-body body-markup actions}\"}" >"$U/$1.mock.out" 2>&1 &
	mock_pid=$!
	pids+=("$mock_pid")
	mockctl wait || diag "the mock server did not appear: $(cat "$U/$1.mock.out")"
}
stop_mock() { kill "$mock_pid" 2>/dev/null; wait "$mock_pid" 2>/dev/null; }

helper_pid=
# start_helper NAME ARGS...: autoenroll-notify in the background,
# stderr in $U/NAME.err; T0 is when it started.
start_helper() {
	local name=$1
	shift
	ERR=$U/$name.err
	T0=$(date +%s.%N)
	"${AS_USER[@]}" "$NOTIFY" "$@" 2>"$ERR" &
	helper_pid=$!
	pids+=("$helper_pid")
}
# wait_exit SECONDS: waits for the helper; RC its exit status (124 when
# it had to be killed), ELAPSED the seconds since it started.
wait_exit() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		kill -0 "$helper_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$helper_pid" 2>/dev/null; then
		kill -9 "$helper_pid" 2>/dev/null
		wait "$helper_pid" 2>/dev/null
		RC=124
	else
		wait "$helper_pid"
		RC=$?
	fi
	ELAPSED=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
}
# wait_for FILE PATTERN SECONDS: until FILE has a line matching PATTERN
wait_for() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
# The id the helper got (from its "shown" line).
shown_id() { sed -n 's/.*shown: notification \([0-9]*\) .*/\1/p' "$ERR" | head -1; }
# Seconds from T0 to the first Notify in $LOG.
notify_after() { awk -v t0="$T0" '/^[0-9.]+ Notify / { printf "%.2f", $1 - t0; exit }' "$LOG"; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a < b) }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a >= b) }'; }

CONSENT="LabInteractive=LabInteractive needs the user's consent (the template requires user interaction): it waits for the user's session"
PIN='SmartcardLogon=the SmartcardLogon certificate waits for the user: token "alice-card" needs a PIN: add pin-source=FILE to the store URI'
MARKUP='X<b>x</b>&=<b>y</b>& nothing we know'

# --- 1. express: the text, escaping, actions, hints; then dismissed ---
start_mock express
rm -f "$AE_TEST_RECORD".*
start_helper express --delay 0 --expire 30 -- "$CONSENT" "$PIN" "$MARKUP"
wait_for "$LOG" ' Notify ' 3
t=$(notify_after)
lt "$t" 1.5
ok $? "--delay 0: Notify within 1.5 s (after $t s)" || diag "$(cat "$ERR")"
grep -q '^[0-9.]* Notify "autoenroll" 0 "security-high" "Certificate enrollment needs you" "' "$LOG"
ok $? "Notify: app autoenroll, replaces 0, icon security-high, summary" || diag "$(cat "$LOG")"
grep -q '"Certificate enrollment needs you" "<b>LabInteractive</b>: needs your consent$' "$LOG"
ok $? "body: the consent template, its reason shortened" || diag "$(cat "$LOG")"
grep -q '^<b>SmartcardLogon</b>: needs the PIN of token “alice-card”$' "$LOG"
ok $? "body: the PIN template and its token" || diag "$(cat "$LOG")"
grep -qF '<b>X&lt;b&gt;x&lt;/b&gt;&amp;</b>: &lt;b&gt;y&lt;/b&gt;&amp; nothing we know' "$LOG" &&
	! grep -qF '<b>x</b>' "$LOG"
ok $? "body: markup in an item arrives escaped" || diag "$(cat "$LOG")"
grep -q '^Select “Enroll” to continue." \["default", "Enroll", "enroll", "Enroll"\] {"urgency": 1} 30000$' "$LOG"
ok $? "actions default+enroll \"Enroll\", urgency 1, expire_timeout 30000 ms" || diag "$(cat "$LOG")"
grep -q "shown: notification 1 for 3 templates" "$ERR"
ok $? "stderr says it was shown" || diag "$(cat "$ERR")"
id=$(shown_id)
emit NotificationClosed uu "${id:-1}" 2
wait_exit 5
[ "$RC" -eq 0 ] && lt "$ELAPSED" 5
ok $? "NotificationClosed(id, 2): exit 0 (status $RC)"
grep -q "dismissed (reason 2): nothing enrolled" "$ERR" && [ ! -e "$AE_TEST_RECORD.argv" ]
ok $? "dismissed: said so, autoenroll-user not run" || diag "$(cat "$ERR")"
[ "$(grep -c '^[0-9.]* Notify ' "$LOG")" -eq 1 ] && ! grep -q CloseNotification "$LOG"
ok $? "dismissed: no other notification, nothing closed" || diag "$(cat "$LOG")"
stop_mock

# --- 2. the delay; SIGTERM while shown ---
start_mock delay
start_helper delay --delay 3 --expire 60 -- "$CONSENT"
sleep 2.5
! grep -q ' Notify ' "$LOG"
ok $? "--delay 3: no Notify after 2.5 s" || diag "$(cat "$LOG")"
wait_for "$LOG" ' Notify ' 4
t=$(notify_after)
ge "$t" 2.9 && lt "$t" 6
ok $? "--delay 3: one Notify by 6 s (after $t s)" || diag "$(cat "$LOG" "$ERR")"
wait_for "$ERR" 'shown:' 2
kill -TERM "$helper_pid"
wait_exit 3
[ "$RC" -eq 0 ] && [ "$(wc -l <"$ERR")" -eq 1 ]
ok $? "SIGTERM while shown: exit 0 (status $RC), quietly" || diag "$(cat "$ERR")"
stop_mock

# --- 3. the expiry, with the bus found through XDG_RUNTIME_DIR ---
start_mock expire
T0=$(date +%s.%N)
ERR=$U/expire.err
(unset DBUS_SESSION_BUS_ADDRESS; XDG_RUNTIME_DIR=$U/run exec "${AS_USER[@]}" "$NOTIFY" --delay 0 --expire 3 -- "$PIN" 2>"$ERR") &
helper_pid=$!
pids+=("$helper_pid")
wait_exit 8
grep -q '^Select “Enroll” to continue." \[.*\] {"urgency": 1} 3000$' "$LOG"
ok $? "--expire 3: expire_timeout 3000 ms; bus found at \$XDG_RUNTIME_DIR/bus" || diag "$(cat "$LOG" "$ERR")"
[ "$RC" -eq 0 ] && ge "$ELAPSED" 2.9 && lt "$ELAPSED" 6
ok $? "--expire 3: exit 0 after $ELAPSED s (status $RC)" || diag "$(cat "$ERR")"
grep -q '^[0-9.]* CloseNotification 1$' "$LOG"
ok $? "--expire 3: CloseNotification(id) at the deadline" || diag "$(cat "$LOG")"
grep -q "expired after 3 s" "$ERR"
ok $? "stderr says it expired" || diag "$(cat "$ERR")"
stop_mock

# --- 4. the action: autoenroll-user --interactive --wait, then the outcome ---
# action NAME KEY STANDIN-RC: the helper shown, the action invoked
action() {
	start_mock "$1"
	rm -f "$AE_TEST_RECORD".*
	AE_TEST_STANDIN_RC=$3 DISPLAY=:42 start_helper "$1" --delay 0 --config /etc/autoenroll/test.conf -- "$CONSENT" "$PIN"
	wait_for "$ERR" 'shown:' 3
	id=$(shown_id)
	emit ActionInvoked us "${id:-1}" "$2"
	wait_exit 5
}
start_mock ignored
rm -f "$AE_TEST_RECORD".*
start_helper ignored --delay 0 -- "$CONSENT"
wait_for "$ERR" 'shown:' 3
id=$(shown_id)
emit ActionInvoked us $((${id:-1} + 1)) enroll
emit ActionInvoked us "${id:-1}" something-else
emit NotificationClosed uu $((${id:-1} + 1)) 2
sleep 1
kill -0 "$helper_pid" 2>/dev/null && [ ! -e "$AE_TEST_RECORD.argv" ]
ok $? "signals for another notification or another action key are ignored" || diag "$(cat "$ERR")"
kill -TERM "$helper_pid"
wait_exit 3
stop_mock

action enroll enroll 0
[ "$RC" -eq 0 ] && grep -q "activated: running autoenroll-user --interactive --wait" "$ERR"
ok $? "ActionInvoked(id, enroll): activated, exit 0 (status $RC)" || diag "$(cat "$ERR")"
[ "$(tr '\n' ' ' <"$AE_TEST_RECORD.argv" 2>/dev/null)" = "--interactive --wait --config /etc/autoenroll/test.conf " ]
ok $? "autoenroll-user ran with --interactive --wait --config FILE" || diag "$(cat "$AE_TEST_RECORD.argv" 2>&1)"
grep -qxF 'DISPLAY=:42' "$AE_TEST_RECORD.env" && grep -qxF "DBUS_SESSION_BUS_ADDRESS=$BUS" "$AE_TEST_RECORD.env"
ok $? "autoenroll-user got the session's environment (DISPLAY, the bus)"
grep -q '^[0-9.]* Notify "autoenroll" 0 "security-high" "Certificates enrolled" "Your certificates are ready." \[\] {"urgency": 1} 10000$' "$LOG"
ok $? "then a second notification: Certificates enrolled, expire 10 s" || diag "$(cat "$LOG")"
grep -q '^[0-9.]* CloseNotification 1$' "$LOG"
ok $? "the offer is closed once taken" || diag "$(cat "$LOG")"
stop_mock

action default default 1
grep -q '^[0-9.]* Notify "autoenroll" 0 "security-high" "Certificate enrollment failed" ".*autoenroll pulse --user --interactive --wait.*journalctl -t autoenroll-user' "$LOG" &&
	[ "$RC" -eq 0 ] && [ -e "$AE_TEST_RECORD.argv" ]
ok $? "ActionInvoked(id, default), autoenroll-user exits 1: \"failed\" notification with what to run" || diag "$(cat "$LOG" "$ERR")"
stop_mock

action retry enroll 75
grep -q '^[0-9.]* Notify "autoenroll" 0 "security-high" "Certificate enrollment will be retried" ' "$LOG" && [ "$RC" -eq 0 ]
ok $? "autoenroll-user exits 75: \"will be retried\" notification" || diag "$(cat "$LOG" "$ERR")"
stop_mock

# --- 5. untrusted text; a server without markup or actions ---
start_mock plain "body"
start_helper plain --delay 0 --expire 2 -- "$MARKUP" \
	$'Ctl\x01\x1b[31m=line one\nline two \xff\xe2\x80\xae '"$(printf 'long%.0s' $(seq 100))TAIL"
wait_exit 5
grep -qF 'X<b>x</b>&: <b>y</b>& nothing we know' "$LOG"
ok $? "no body-markup: the text as it is, nothing escaped" || diag "$(cat "$LOG")"
grep -q '^Run “autoenroll pulse --user --interactive” to continue." \["default"' "$LOG"
ok $? "no actions: the body says what to run" || diag "$(cat "$LOG")"
line=$(grep '^Ctl' "$LOG")
case $line in
"Ctl[31m: line one line two � longlong"*"…") r=0 ;;
*) r=1 ;;
esac
! LC_ALL=C grep -aq $'[\x01\x1b]\|\xe2\x80\xae\|TAIL' "$LOG" && [ "$r" -eq 0 ] && [ "$(printf '%s' "$line" | wc -m)" -le 230 ]
ok $? "controls dropped, bad UTF-8 replaced, one line, long reason cut with …" || diag "$line"
stop_mock

# --- 6. no session bus; usage; SIGTERM during the delay; root ---
T0=$(date +%s.%N)
(unset DBUS_SESSION_BUS_ADDRESS; XDG_RUNTIME_DIR=$U/empty exec "${AS_USER[@]}" "$NOTIFY" --delay 0 -- "$CONSENT") \
	>"$U/nobus.out" 2>"$U/nobus.err"
rc=$?
ELAPSED=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
[ "$rc" -eq 0 ] && lt "$ELAPSED" 2 && grep -qx "autoenroll-notify: no session bus: nothing shown; the work waits for a graphical logon or \`autoenroll pulse --user --interactive\`" "$U/nobus.err"
ok $? "no session bus: exit 0 at once (status $rc, $ELAPSED s), one line saying so" || diag "$(cat "$U/nobus.err")"

r=0
"${AS_USER[@]}" "$NOTIFY" --delay 0 2>/dev/null; [ $? -eq 2 ] || r=1
"${AS_USER[@]}" "$NOTIFY" --delay soon -- "$CONSENT" 2>/dev/null; [ $? -eq 2 ] || r=1
"${AS_USER[@]}" "$NOTIFY" --expire 0 -- "$CONSENT" 2>/dev/null; [ $? -eq 2 ] || r=1
"${AS_USER[@]}" "$NOTIFY" --delay 0 -- no-equals-sign 2>/dev/null; [ $? -eq 2 ] || r=1
"${AS_USER[@]}" "$NOTIFY" --delay 0 -- =reason 2>/dev/null; [ $? -eq 2 ] || r=1
ok $r "usage errors (no item, bad --delay, --expire 0, item without TEMPLATE=): exit 2"

start_helper term --delay 60 -- "$CONSENT"
sleep 0.5
kill -TERM "$helper_pid"
wait_exit 2
[ "$RC" -eq 0 ] && [ ! -s "$ERR" ]
ok $? "SIGTERM during the delay: exit 0 at once (status $RC), quietly"

if [ "$(id -u)" -eq 0 ]; then
	"$NOTIFY" --delay 0 -- "$CONSENT" >/dev/null 2>"$U/root.err"
	rc=$?
	[ "$rc" -eq 1 ] && grep -q "refusing to run as root" "$U/root.err"
	ok $? "as root: refuses, exit 1 (status $rc)" || diag "$(cat "$U/root.err")"
else
	echo "ok $((tap_n += 1)) # SKIP the root check needs root"
fi

done_testing
