#!/bin/bash
# lab-pam.sh - pam_autoenroll.so through real libpam, as a login program
# uses it: pam_wrapper loads service files from a private directory, the
# stack authenticates alice with pam_krb5 against the lab KDC, and
# pam_autoenroll starts her autoenrollment.  Asserts: the session opens
# within milliseconds (DC up and DC dropped), her certificates appear, the
# helper runs as alice with her groups and no way back to root, the module
# leaves nothing behind in the login process, the service/user filters and
# screen unlock start nothing, machine_pulse runs no machine pulse in the
# login's process tree, and in a graphical session the work that needs alice reaches a real
# D-Bus notification daemon (python3-dbusmock) whose action enrolls it.
#
# The module under test is tests/pam/pam_autoenroll_build.so: the same
# sources as pam_autoenroll.so, with this build tree as its helper
# directory.
. "$(dirname "$0")/lib.sh"
lab_require

MODULE="$top_builddir/tests/pam/.libs/pam_autoenroll_build.so"
SESSION="$top_builddir/tests/pam/pam-session"
WRAPPER=$(ls /usr/lib/*/libpam_wrapper.so 2>/dev/null | head -1)
PAM_KRB5=$(ls /lib/*/security/pam_krb5.so /usr/lib/*/security/pam_krb5.so 2>/dev/null | head -1)
SECDIR=$(ls -d /lib/*/security /usr/lib/*/security 2>/dev/null | head -1)
[ -n "$WRAPPER" ] || skip_all "pam_wrapper is not installed (libpam-wrapper)"
[ -n "$PAM_KRB5" ] || skip_all "pam_krb5 is not installed (libpam-krb5)"
[ -f "$MODULE" ] && [ -x "$SESSION" ] || skip_all "the test module is not built (make check builds it)"

"$LABCTL" local-users >"$TEST_TMP/users.log" 2>&1 || { cat "$TEST_TMP/users.log"; skip_all "cannot create the lab's local users"; }
eval "$("$LABCTL" env)"
LAB=$AE_LAB_DIR
HOMEDIR=$LAB/home/alice
STATE=$HOMEDIR/.local/share/autoenroll
CALOG=$LAB/ca/requests.log
chmod 755 "$TEST_TMP"
rm -rf "$HOMEDIR/.local" "$HOMEDIR/run"
cleanup() {
	[ -n "${DBUS_PID:-}" ] && kill "$DBUS_PID" 2>/dev/null
	[ -n "${MOCK_PID:-}" ] && kill "$MOCK_PID" 2>/dev/null
	in_lab nft delete table inet aepam 2>/dev/null
	pkill -u alice -f 'autoenroll-(user|notify)' 2>/dev/null
	rm -rf "$TEST_TMP"
}
trap cleanup EXIT

# The helpers read this configuration (conf= in the stack).  Short network
# timeouts so that helpers stuck on a dropped DC end quickly.
cat >"$TEST_TMP/autoenroll.conf" <<EOF
[global]
domain = $AE_LAB_DOMAIN
ldap_timeout = 4
dns_timeout = 2
[machine]
keytab = $LAB/ws1.keytab
state_dir = $TEST_TMP/machine
[user]
notify_expire = 600
EOF
chmod 644 "$TEST_TMP/autoenroll.conf"
password_of() { sed -n "s/^$1=//p" "$LAB/passwords"; }
password_of alice >"$TEST_TMP/alice.pw"

mkdir -p "$TEST_TMP/pam.d"
stack() { # stack NAME MODULE-OPTIONS [auth]: a service file
	{
		echo "auth     required  $PAM_KRB5 minimum_uid=1000"
		[ "${3:-}" = auth ] && echo "auth     optional  $MODULE $2"
		echo "account  required  $SECDIR/pam_permit.so"
		echo "session  optional  $PAM_KRB5 minimum_uid=1000"
		echo "session  optional  $MODULE $2"
	} >"$TEST_TMP/pam.d/$1"
}
bare() { # bare NAME MODULE-OPTIONS: only our module in the session stack
	{
		echo "auth     required  $SECDIR/pam_permit.so"
		echo "account  required  $SECDIR/pam_permit.so"
		[ -n "$2" ] && echo "session  optional  $MODULE $2"
		echo "session  required  $SECDIR/pam_permit.so"
	} >"$TEST_TMP/pam.d/$1"
}
C="conf=$TEST_TMP/autoenroll.conf"
stack login "$C"
stack sshd "$C"
stack cron "$C"
stack only-bob "$C users=bob"
stack high-uid "$C min_uid=70000"
stack unlock "$C" auth
stack machine "$C machine_pulse"
bare quick "$C"
# pam_wrapper wants the fallback service, as libpam has /etc/pam.d/other.
printf 'auth required %s/pam_deny.so\naccount required %s/pam_deny.so\nsession required %s/pam_deny.so\n' \
	"$SECDIR" "$SECDIR" "$SECDIR" >"$TEST_TMP/pam.d/other"

pam() { # pam ARGS...: pam-session in the lab through pam_wrapper
	in_lab env LD_PRELOAD="$WRAPPER" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$TEST_TMP/pam.d" "$SESSION" "$@"
}
mtime() { stat -c %Y "$1" 2>/dev/null || echo 0; }
changed() { [ "$(mtime "$1")" != "$2" ]; }
wait_for() { # wait_for SECONDS CMD...: until CMD succeeds
	local end=$((SECONDS + $1)); shift
	until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.2; done
}
ca_lines() { wc -l 2>/dev/null <"$CALOG" || echo 0; }
us() { sed -n 's/^open_session_us //p' "$1"; }

# ===== a console login: pam_krb5 + pam_autoenroll =====
ca0=$(ca_lines)
t_login=$(date +%s%N)
pam --auth --password-file "$TEST_TMP/alice.pw" --item PAM_TTY=/dev/tty3 --print-env \
	--hold-file "$TEST_TMP/logout" login alice >"$TEST_TMP/login.out" 2>"$TEST_TMP/login.err" &
LOGIN=$!
wait_for 20 grep -qs open_session_us "$TEST_TMP/login.out"
ok $? "alice logs in: pam_krb5 authenticates her against the lab KDC and the session opens" ||
	diag "$(cat "$TEST_TMP/login.err")"
grep -q "^env KRB5CCNAME=FILE:/tmp/krb5cc_$(id -u alice)" "$TEST_TMP/login.out"
ok $? "pam_krb5 put her ticket cache in the PAM environment" || diag "$(cat "$TEST_TMP/login.out")"
t=$(us "$TEST_TMP/login.out")
[ -n "$t" ] && [ "$t" -lt 1000000 ]
ok $? "pam_open_session of the whole stack (pam_krb5 + pam_autoenroll) took ${t:-?} us"
wait_for 60 test -s "$STATE/last-pulse.json"
ok $? "her pulse finished within 60 s of the login ($(( ($(stat -c %.9Y "$STATE/last-pulse.json" 2>/dev/null | tr -d .) - t_login) / 1000000 )) ms after pam_authenticate began)" ||
	diag "$(ls -la "$STATE" 2>&1)"
jq -e '.ok == true and .counts.enrolled >= 2' "$STATE/last-pulse.json" >/dev/null
ok $? "her certificates were enrolled ($(jq -r '.counts.enrolled' "$STATE/last-pulse.json" 2>/dev/null) enrolled)" ||
	diag "$(jq -c '{ok,error,counts,events:[.events[]|{event,template}]}' "$STATE/last-pulse.json" 2>&1)"
tail -n +"$((ca0 + 1))" "$CALOG" | jq -e -s --arg realm "$AE_LAB_REALM" 'map(select(.template=="LabUser" and .disposition==3 and .caller=="alice@\($realm)")) | length == 1' >/dev/null
ok $? "the CA issued LabUser to alice, asked with alice's own Kerberos identity" ||
	diag "$(tail -n +"$((ca0 + 1))" "$CALOG")"
ls "$STATE"/certs/*.pem >/dev/null 2>&1 && [ -z "$(find "$STATE" ! -user alice)" ] && [ -z "$(find "$STATE" ! -group alice)" ]
ok $? "her certificates and keys are in her home, owned by alice:alice, nothing of root's" ||
	diag "$(find "$STATE" ! -user alice -ls)"
jq -e '[.events[]|select(.event=="needs-user" and .template=="LabInteractive")]|length==1' "$STATE/last-pulse.json" >/dev/null
ok $? "LabInteractive waits for her (needs consent); a text console gets no notification" 
! pgrep -u alice -f autoenroll-notify >/dev/null
ok $? "... no notification helper started for a console session"
touch "$TEST_TMP/logout"
wait "$LOGIN"
ok $? "she logs out: close_session and pam_end succeed"

# ===== a session that ends at once (ssh host command, pamtester) =====
# pam_krb5 destroys its FILE cache at close_session, milliseconds after
# pam_autoenroll returned: the helper works from the private copy the
# module made as alice before returning, which it loads and deletes.
rm -rf "$HOMEDIR/.local"
uid_alice=$(id -u alice)
copies() { ls -d /tmp/autoenroll-ccache-"$uid_alice"-* 2>/dev/null; }
ca0=$(ca_lines)
pam --auth --password-file "$TEST_TMP/alice.pw" --print-env sshd alice >"$TEST_TMP/short.out" 2>&1
ok $? "a session that closes as soon as it opened (authenticate, open_session, close_session, end)" ||
	diag "$(cat "$TEST_TMP/short.out")"
cc=$(sed -n 's/^env KRB5CCNAME=FILE://p' "$TEST_TMP/short.out")
[ -n "$cc" ] && [ ! -e "$cc" ]
ok $? "... pam_krb5 destroyed her ticket cache ${cc:-?} when the session closed"
wait_for 60 test -s "$STATE/last-pulse.json"
jq -e '.ok == true and .counts.enrolled >= 2' "$STATE/last-pulse.json" >/dev/null
ok $? "... and her pulse still enrolled ($(jq -r '.counts.enrolled' "$STATE/last-pulse.json" 2>/dev/null) enrolled): it worked from the copy" ||
	diag "$(jq -c '{ok,error,counts}' "$STATE/last-pulse.json" 2>&1)"
ls "$STATE"/certs/*.pem >/dev/null 2>&1 &&
	tail -n +"$((ca0 + 1))" "$CALOG" | jq -e -s --arg realm "$AE_LAB_REALM" 'map(select(.template=="LabUser" and .disposition==3 and .caller=="alice@\($realm)")) | length == 1' >/dev/null
ok $? "... her certificates appeared, issued to alice's own Kerberos identity"
[ -z "$(copies)" ]
ok $? "... the private copy of the ticket cache is gone" || diag "$(copies)"

# ===== the helper's identity, and the DC dropped =====
# A ticket cache as pam_krb5 would leave it, taken while the DC answers.
"$LABCTL" run --user alice -- true
cp "$LAB/ccache/alice" "$TEST_TMP/alice.ccache"
chown alice: "$TEST_TMP/alice.ccache"
# Dropped on the way in, as a firewall that silently drops does: the
# helper's packets leave and nothing ever answers (an output drop would
# fail its sends at once instead).
in_lab nft -f - <<'NFT'
table inet aepam {
	chain in { type filter hook input priority 0; ip daddr 127.0.0.10 drop; }
}
NFT
rm -f "$STATE/policy-cache" # so that the pulse goes to the (silent) DC
pam --check-leaks --putenv "KRB5CCNAME=FILE:$TEST_TMP/alice.ccache" --item PAM_TTY=pts/4 \
	--item PAM_RHOST=192.0.2.1 quick alice >"$TEST_TMP/quick.out" 2>&1
rc=$?
t=$(us "$TEST_TMP/quick.out")
[ $rc -eq 0 ] && [ -n "$t" ] && [ "$t" -lt 50000 ]
ok $? "DC dropped: the session still opens at once (${t:-?} us)" || diag "$(cat "$TEST_TMP/quick.out")"
grep -q '^no leaks$' "$TEST_TMP/quick.out"
ok $? "the module leaves no descriptor, signal handler, signal mask, umask or child in the login process" ||
	diag "$(cat "$TEST_TMP/quick.out")"
live_helper() { # the newest autoenroll-user of alice that is not a zombie
	ps -u alice -o pid=,stat=,comm= --sort=-start_time | awk '$2 !~ /Z/ && $3 == "autoenroll-user" {print $1; exit}'
}
have_helper() { [ -n "$(live_helper)" ]; }
wait_for 5 have_helper
pid=$(live_helper)
if [ -n "$pid" ]; then
	# Copies first: the helper ends when its DNS and LDAP timeouts do.
	P=$TEST_TMP/proc
	mkdir -p "$P"
	cp "/proc/$pid/status" "$P/status"
	tr '\0' '\n' <"/proc/$pid/environ" >"$P/environ"
	tr '\0' ' ' <"/proc/$pid/cmdline" >"$P/cmdline"
	ls -l "/proc/$pid/fd" >"$P/fd"
	ps -o sid=,pgid=,ppid= -p "$pid" >"$P/ps"
	st=$P/status
	uid=$(id -u alice) gid=$(id -g alice)
	grep -Eq "^Uid:\s+$uid\s+$uid\s+$uid\s+$uid$" "$st" && grep -Eq "^Gid:\s+$gid\s+$gid\s+$gid\s+$gid$" "$st"
	ok $? "the helper runs as alice: real, effective, saved and fs uid and gid are hers" || diag "$(grep -E '^(Uid|Gid)' "$st")"
	want=$(id -G alice | tr ' ' '\n' | sort -n | tr '\n' ' ')
	got=$(sed -n 's/^Groups:\s*//p' "$st" | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ')
	[ "$want" = "$got" ] && id -Gn alice | grep -qw aelab-cert
	ok $? "... with alice's groups ($(id -Gn alice)), not root's" || diag "want [$want] got [$got]"
	grep -Eq '^CapPrm:\s+0+$' "$st" && grep -Eq '^CapEff:\s+0+$' "$st" && grep -Eq '^NoNewPrivs:\s+1$' "$st"
	ok $? "... with no capabilities and no_new_privs: it cannot regain root" || diag "$(grep -E '^(Cap|NoNew)' "$st")"
	read -r sid pgid ppid <"$P/ps"
	[ "$sid" != "$(ps -o sid= -p $$ | tr -d ' ')" ] && [ "$sid" != "$pid" ] && [ "$ppid" != "$(pgrep -x pam-session | head -1)" ]
	ok $? "... in a session of its own (double fork: not a session leader, so no controlling terminal), nobody's child in the login program" ||
		diag "sid $sid pgid $pgid ppid $ppid pid $pid"
	env=$(cut -d= -f1 "$P/environ" | sort | tr '\n' ' ')
	[ "$env" = "AUTOENROLL_CCACHE_COPY HOME KRB5CCNAME LOGNAME PATH SHELL USER " ]
	ok $? "... with the clean environment the module built (got: $env)"
	grep -q -- '--session .*--no-notify' "$P/cmdline"
	ok $? "... told that there is no graphical session (--no-notify): $(cat "$P/cmdline")"
	fds=$(awk 'NR>1 && $9<3 {print $9 $11}' "$P/fd" | tr '\n' ' ')
	[ "$fds" = "0/dev/null 1/dev/null 2/dev/null " ]
	ok $? "... with stdin, stdout and stderr on /dev/null ($fds)"
else
	ok 1 "the helper runs as alice (no helper process found)"
fi
pam --count 20 --putenv "KRB5CCNAME=FILE:$TEST_TMP/alice.ccache" quick alice >"$TEST_TMP/twenty.out" 2>&1
max=$(us "$TEST_TMP/twenty.out" | sort -n | tail -1)
[ "$(us "$TEST_TMP/twenty.out" | wc -l)" = 20 ] && [ "$max" -lt 50000 ]
ok $? "DC dropped: 20 sessions in a row each open in under 50 ms (slowest ${max:-?} us)"
in_lab nft delete table inet aepam
wait_for 30 sh -c '! pgrep -u alice -x autoenroll-user >/dev/null'
ok $? "the helpers stuck on the dropped DC end by themselves (ldap_timeout)" || pkill -u alice -x autoenroll-user

# ===== what must not start enrollment =====
# Each session stays open a few seconds (pam_krb5 removes the ticket cache
# at close), side by side; none of them may start a pulse.
m0=$(mtime "$STATE/last-pulse.json")
sleep 1.1
pam --auth --password-file "$TEST_TMP/alice.pw" --hold 4 cron alice >/dev/null 2>&1 &
pam --auth --password-file "$TEST_TMP/alice.pw" --hold 4 only-bob alice >/dev/null 2>&1 &
pam --auth --password-file "$TEST_TMP/alice.pw" --hold 4 high-uid alice >/dev/null 2>&1 &
pam --putenv "KRB5CCNAME=FILE:$TEST_TMP/alice.ccache" --hold 4 quick root >/dev/null 2>&1 &
pam --unlock --password-file "$TEST_TMP/alice.pw" unlock alice >"$TEST_TMP/unlock.out" 2>&1
grep -q unlocked "$TEST_TMP/unlock.out"
ok $? "a screen unlock (authenticate + setcred REINITIALIZE, module also in the auth stack) succeeds" ||
	diag "$(cat "$TEST_TMP/unlock.out")"
sleep 2
# Only this lab's: other labs on the host (their own namespaces) may run
# helpers of their own.
in_this_lab() { for p in $(pgrep "$@"); do [ "$(ip netns identify "$p" 2>/dev/null)" = "$AE_LAB_NETNS" ] && echo "$p"; done; }
[ -z "$(in_this_lab -f 'autoenroll-(user|machine)')" ]
ok $? "... no helper runs while those sessions are open"
wait
[ "$(mtime "$STATE/last-pulse.json")" = "$m0" ]
ok $? "cron, a user filter, min_uid, a screen unlock and root's session start no enrollment"
pam --auth --password-file "$TEST_TMP/alice.pw" --hold 4 sshd alice >"$TEST_TMP/sshd.out" 2>&1 &
wait_for 30 changed "$STATE/last-pulse.json" "$m0"
ok $? "... while the same stack as sshd does (control)" ||
	diag "$(ls -la --time-style=full-iso "$STATE" 2>&1; jq -c '{ok,error,started}' "$STATE/last-pulse.json"; cat "$TEST_TMP/sshd.out"; date)"
wait

# ===== no credentials (an SSH key login, no ticket): one clear line =====
BOBSTATE=$LAB/home/bob/.local/share/autoenroll
rm -rf "$LAB/home/bob/.local"
pam --item PAM_RHOST=192.0.2.7 quick bob >/dev/null 2>&1
ok $? "bob logs in without any Kerberos credentials: the session opens"
wait_for 20 test -s "$BOBSTATE/last-pulse.json"
jq -e '.ok == false and .retry == true and (.error | test("no Kerberos credentials.*pam_krb5 or pam_sss, or run kinit")) and
       ([.events[] | select(.event == "pulse-failed")] | length == 1)' "$BOBSTATE/last-pulse.json" >/dev/null
ok $? "... his helper records one pulse-failed event that says there are no credentials and how to get them" ||
	diag "$(jq -c '{ok,retry,error}' "$BOBSTATE/last-pulse.json" 2>&1)"

# ===== a KRB5CCNAME the module refuses to copy: one clear line, no start =====
# pam_wrapper hands pam_syslog's lines to its debug log on stderr.
ln -sf "$TEST_TMP/alice.ccache" "$TEST_TMP/link.ccache"
cp "$TEST_TMP/alice.ccache" "$TEST_TMP/root.ccache"
chmod 644 "$TEST_TMP/root.ccache" # readable by alice, but root's
m0=$(mtime "$STATE/last-pulse.json")
sleep 1.1
PAM_WRAPPER_DEBUGLEVEL=3 pam --putenv "KRB5CCNAME=FILE:$TEST_TMP/link.ccache" quick alice >"$TEST_TMP/link.out" 2>&1
ok $? "a symbolic link as the ticket cache: the session still opens"
grep -q "cannot start autoenrollment for alice: the ticket cache $TEST_TMP/link.ccache (KRB5CCNAME) is a symbolic link: refused" "$TEST_TMP/link.out"
ok $? "... the module says the cache is a symbolic link and refuses it" || diag "$(grep -i autoenroll "$TEST_TMP/link.out")"
PAM_WRAPPER_DEBUGLEVEL=3 pam --putenv "KRB5CCNAME=$TEST_TMP/root.ccache" quick alice >"$TEST_TMP/root.out" 2>&1
grep -q "the ticket cache $TEST_TMP/root.ccache (KRB5CCNAME) is not owned by the user (uid $(id -u alice)): refused" "$TEST_TMP/root.out"
ok $? "a cache owned by someone else (root's, readable by alice) is refused, in words" ||
	diag "$(grep -i autoenroll "$TEST_TMP/root.out")"
sleep 2
[ "$(mtime "$STATE/last-pulse.json")" = "$m0" ] && [ -z "$(copies)" ]
ok $? "... neither starts a pulse or leaves a copy behind"

# ===== KEYRING caches (sssd, KEYRING:persistent): used as they are =====
KRSTATE=$TEST_TMP/keyring-state
mkdir -p "$KRSTATE" && chown alice: "$KRSTATE"
printf '[global]\ndomain = %s\n[user]\nstate_dir = %s\nstore = file:%s\n' "$AE_LAB_DOMAIN" "$KRSTATE" "$KRSTATE" \
	>"$TEST_TMP/keyring.conf"
chmod 644 "$TEST_TMP/keyring.conf"
as_alice() { in_lab setpriv --reuid alice --regid alice --init-groups env HOME="$HOMEDIR" "$@"; }
# One shell: the session keyring is the one its processes share.
as_alice sh -c 'kinit -c KEYRING:session:aetest alice <"$1" >/dev/null &&
	KRB5CCNAME=KEYRING:session:aetest "$2" --wait --json -c "$3"; rc=$?; kdestroy -c KEYRING:session:aetest; exit $rc' \
	sh "$TEST_TMP/alice.pw" "$AE_BIN/autoenroll-user" "$TEST_TMP/keyring.conf" >"$TEST_TMP/keyring.json" 2>"$TEST_TMP/keyring.err"
ok $? "a pulse with KRB5CCNAME=KEYRING:session:aetest (kinit into the session keyring) succeeds" ||
	diag "$(cat "$TEST_TMP/keyring.err")"
jq -e '.ok == true and .counts.enrolled >= 2' "$TEST_TMP/keyring.json" >/dev/null && ls "$KRSTATE"/certs/*.pem >/dev/null 2>&1
ok $? "... and enrolls her certificates ($(jq -r '.counts.enrolled' "$TEST_TMP/keyring.json" 2>/dev/null) enrolled)" ||
	diag "$(jq -c '{ok,error,counts}' "$TEST_TMP/keyring.json" 2>&1)"
as_alice env KRB5CCNAME=KEYRING:session:aetest-empty "$AUTOENROLL" policy -c "$TEST_TMP/keyring.conf" >/dev/null 2>"$TEST_TMP/nokeyring.err"
grep -q "no Kerberos credentials for the user in the KEYRING cache KEYRING:session:aetest-empty" "$TEST_TMP/nokeyring.err"
ok $? "an empty KEYRING cache: the message names its type and name" || diag "$(cat "$TEST_TMP/nokeyring.err")"
# Through the module: KEYRING:persistent outlives the PAM handle; nothing
# is copied and the helper reads it as it is.
rm -rf "$HOMEDIR/.local"
as_alice sh -c 'kinit -c KEYRING:persistent:$(id -u) alice <"$1" >/dev/null' sh "$TEST_TMP/alice.pw"
pam --putenv "KRB5CCNAME=KEYRING:persistent:$uid_alice" quick alice >/dev/null 2>&1
ok $? "a short session with KRB5CCNAME=KEYRING:persistent:$uid_alice opens"
wait_for 60 test -s "$STATE/last-pulse.json"
jq -e '.ok == true and .counts.enrolled >= 2' "$STATE/last-pulse.json" >/dev/null && [ -z "$(copies)" ]
ok $? "... its pulse enrolls from the keyring, with no copy made" ||
	diag "$(jq -c '{ok,error,counts}' "$STATE/last-pulse.json" 2>&1)"
as_alice kdestroy -c "KEYRING:persistent:$uid_alice" 2>/dev/null
# KCM caches (sssd-kcm's default on Fedora and RHEL): passed on as they are.
# sssd-kcm is not installed here (its dependencies libpam-sss and
# libpam-pwquality rewrite the host's PAM stack through pam-auth-update):
# Heimdal's kcm speaks the same protocol to MIT's KCM client.  It listens
# at the client's default socket (it ignores --socket-path), so only when
# no KCM server runs on this host already; the socket goes with it.
KCM_SOCKET=/run/.heim_org.h5l.kcm-socket
if [ -x /usr/sbin/kcm ] && [ ! -e "$KCM_SOCKET" ]; then
	/usr/sbin/kcm >"$TEST_TMP/kcm.log" 2>&1 &
	kcm_pid=$!
	wait_for 10 test -S "$KCM_SOCKET"
	rm -rf "$HOMEDIR/.local"
	as_alice sh -c 'kinit -c KCM: alice <"$1" >/dev/null && klist -c KCM: | grep -q "^Ticket cache: KCM:$(id -u)"' \
		sh "$TEST_TMP/alice.pw"
	ok $? "kinit into KCM: (a KCM server, Heimdal's kcm)"
	pam --putenv "KRB5CCNAME=KCM:" quick alice >/dev/null 2>&1
	ok $? "a short session with KRB5CCNAME=KCM: opens"
	wait_for 60 test -s "$STATE/last-pulse.json"
	jq -e '.ok == true and .counts.enrolled >= 2' "$STATE/last-pulse.json" >/dev/null && [ -z "$(copies)" ]
	ok $? "... its pulse enrolls from the KCM cache, with no copy made" ||
		diag "$(jq -c '{ok,error,counts}' "$STATE/last-pulse.json" 2>&1)" "$(cat "$TEST_TMP/kcm.log")"
	as_alice kdestroy -c KCM: 2>/dev/null
	kill "$kcm_pid" 2>/dev/null
	wait "$kcm_pid" 2>/dev/null
	rm -f "$KCM_SOCKET"
else
	diag "KCM not run: no KCM server (heimdal-kcm) here, or one runs already"
fi

# ===== machine_pulse: no root work in the login's process tree =====
# The module asks systemd to start autoenroll-machine.service (what it runs
# and how is checked in pam-module.sh, with a stand-in systemctl); it
# never runs the machine helper itself, so no pulse writes this test's
# machine state directory, with or without systemd.
pam --auth --password-file "$TEST_TMP/alice.pw" machine alice >/dev/null 2>&1
ok $? "machine_pulse: the session opens"
sleep 3
[ ! -e "$TEST_TMP/machine/last-pulse.json" ]
ok $? "... and the login runs no machine pulse itself (the systemd unit does, where systemd runs)" ||
	diag "$(ls -la "$TEST_TMP/machine" 2>&1)"
wait_for 20 sh -c '! pgrep -x autoenroll-user >/dev/null'

# ===== a graphical login: the notification, its action, the enrollment =====
if command -v dbus-daemon >/dev/null && /usr/bin/python3 -c 'import dbusmock' 2>/dev/null; then
	RUN=$HOMEDIR/run
	mkdir -p "$RUN" && chown alice: "$RUN" && chmod 700 "$RUN"
	BUS="unix:path=$RUN/bus"
	DBUS_PID=$(runuser -u alice -- dbus-daemon --session --address="$BUS" --fork --print-pid=1 --nopidfile)
	as_desktop() { runuser -u alice -- env DBUS_SESSION_BUS_ADDRESS="$BUS" "$@"; }
	start_notifier() { # a fresh notification daemon (python3-dbusmock), numbering from 1
		if [ -n "${MOCK_PID:-}" ]; then
			kill "$MOCK_PID" 2>/dev/null
			wait "$MOCK_PID" 2>/dev/null
		fi
		rm -f "$RUN/notify.log"
		as_desktop /usr/bin/python3 -m dbusmock --template notification_daemon -l "$RUN/notify.log" >/dev/null 2>&1 &
		MOCK_PID=$!
		wait_for 10 as_desktop dbus-send --session --print-reply --dest=org.freedesktop.Notifications \
			/org/freedesktop/Notifications org.freedesktop.Notifications.GetServerInformation >/dev/null 2>&1
	}
	desktop_login() { # SERVICE LOGOUT-FILE: alice opens a graphical session, in the background
		pam --auth --password-file "$TEST_TMP/alice.pw" --item PAM_XDISPLAY=:7 --item PAM_TTY=:7 \
			--putenv XDG_SESSION_TYPE=x11 --putenv "XDG_RUNTIME_DIR=$RUN" --putenv "DBUS_SESSION_BUS_ADDRESS=$BUS" \
			--hold-file "$2" "$1" alice >"$TEST_TMP/$1.out" 2>&1 &
		LOGIN=$!
	}
	press_enroll() { # she activates the Enroll action of the first notification
		as_desktop /usr/bin/python3 -c '
import dbus
b = dbus.SessionBus()
o = b.get_object("org.freedesktop.Notifications", "/org/freedesktop/Notifications")
o.EmitSignal("org.freedesktop.Notifications", "ActionInvoked", "us", [dbus.UInt32(1), "enroll"],
             dbus_interface="org.freedesktop.DBus.Mock")'
	}
	start_notifier
	ok $? "alice's session bus and a notification daemon (python3-dbusmock) are up"
	stack gdm "$C express"
	ca0=$(ca_lines)
	desktop_login gdm "$TEST_TMP/logout2"
	wait_for 40 grep -qs 'Notify' "$RUN/notify.log"
	ok $? "graphical login with express: a notification is shown" || diag "$(cat "$RUN/notify.log" 2>&1)"
	grep 'Notify' "$RUN/notify.log" | head -1 | grep -q LabInteractive
	ok $? "... naming LabInteractive, the template that needs her consent" || diag "$(grep Notify "$RUN/notify.log")"
	grep -A3 'Notify' "$RUN/notify.log" | grep -q '"enroll"'
	ok $? "... with an Enroll action"
	press_enroll
	wait_for 60 sh -c "tail -n +$((ca0 + 1)) '$CALOG' | grep -q '\"LabInteractive\"'"
	ok $? "she activates it: the interactive enrollment asks the CA for LabInteractive" ||
		diag "$(tail -n +"$((ca0 + 1))" "$CALOG")"
	wait_for 30 sh -c "grep Notify '$RUN/notify.log' | grep -q 'Certificates enrolled'"
	ok $? "... and a second notification says her certificates are ready" || diag "$(cat "$RUN/notify.log")"
	touch "$TEST_TMP/logout2"
	wait "$LOGIN"
	ok $? "she logs out of the graphical session"

	# ----- her key store is a token that needs a PIN (SoftHSM2) -----
	# SoftHSM2 reads ~/.config/softhsm2/softhsm2.conf: the module passes no
	# SOFTHSM2_CONF, as it would not for a real smartcard either.
	if [ -e /usr/lib/softhsm/libsofthsm2.so ] && command -v softhsm2-util >/dev/null; then
		rm -rf "$HOMEDIR/.config/softhsm2" "$HOMEDIR/tokens" "$HOMEDIR/pin-state" "$HOMEDIR/pinentry"
		mkdir -p "$HOMEDIR/.config/softhsm2" "$HOMEDIR/tokens" "$HOMEDIR/pinentry"
		printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\n' "$HOMEDIR" \
			>"$HOMEDIR/.config/softhsm2/softhsm2.conf"
		# The PIN dialog: a stand-in speaking Assuan (pinentry-gnome3 on a
		# real desktop); it logs what it is asked, never the PIN.
		cp "$top_srcdir/tests/data/pinentry-standin" "$HOMEDIR/pinentry/pinentry-standin"
		printf 'STANDIN_LOG=%s/pinentry/log\nSTANDIN_PINS=1111\n' "$HOMEDIR" >"$HOMEDIR/pinentry/standin.env"
		chown -R alice: "$HOMEDIR/.config" "$HOMEDIR/tokens" "$HOMEDIR/pinentry"
		chmod 755 "$HOMEDIR/pinentry/pinentry-standin"
		runuser -u alice -- env HOME="$HOMEDIR" softhsm2-util --init-token --free --label alice-card \
			--so-pin 4321 --pin 1111 >/dev/null
		cat >"$TEST_TMP/pin.conf" <<EOF
[global]
domain = $AE_LAB_DOMAIN
[user]
state_dir = $HOMEDIR/pin-state
store = pkcs11:token=alice-card;module-path=/usr/lib/softhsm/libsofthsm2.so
pinentry = $HOMEDIR/pinentry/pinentry-standin
notify_expire = 600
EOF
		chmod 644 "$TEST_TMP/pin.conf"
		stack gdmpin "conf=$TEST_TMP/pin.conf express"
		start_notifier
		ca0=$(ca_lines)
		desktop_login gdmpin "$TEST_TMP/logout3"
		wait_for 40 grep -qs 'Notify' "$RUN/notify.log"
		grep -A3 'Notify' "$RUN/notify.log" | grep -q 'PIN of token .alice-card'
		ok $? "token without a PIN at hand: the notification asks for the PIN of alice-card" ||
			diag "$(cat "$RUN/notify.log" 2>&1)"
		[ "$(tail -n +"$((ca0 + 1))" "$CALOG" | wc -l)" = 0 ] && [ ! -s "$HOMEDIR/pinentry/log" ]
		ok $? "... and nothing was requested nor asked before she answers"
		press_enroll
		wait_for 90 sh -c "grep Notify '$RUN/notify.log' | grep -q 'Certificates enrolled'"
		ok $? "she activates it: the interactive enrollment ends with the certificates-ready notification" ||
			diag "$(cat "$RUN/notify.log")" "$(jq -c '{ok,error,counts}' "$HOMEDIR/pin-state/last-pulse.json" 2>&1)"
		grep -q '^GETPIN$' "$HOMEDIR/pinentry/log" && grep '^SETDESC' "$HOMEDIR/pinentry/log" | grep -q alice-card &&
			! grep -q 1111 "$HOMEDIR/pinentry/log"
		ok $? "... the PIN came from the PIN dialog (pinentry), which named the token" ||
			diag "$(cat "$HOMEDIR/pinentry/log" 2>&1)"
		tail -n +"$((ca0 + 1))" "$CALOG" | jq -e -s 'map(select(.template=="LabUser" and .disposition==3)) | length == 1' >/dev/null
		ok $? "... and the CA issued LabUser for a key generated on her token"
		n=$(runuser -u alice -- env HOME="$HOMEDIR" pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so \
			--token-label alice-card --login --pin 1111 --list-objects --type cert 2>/dev/null | grep -c '^Certificate Object')
		[ "${n:-0}" -ge 1 ]
		ok $? "... the certificates are on the token ($n certificate objects)"
		touch "$TEST_TMP/logout3"
		wait "$LOGIN"

		# ----- her smartcard is not inserted at logon -----
		printf '1111' >"$HOMEDIR/pinentry/sc.pin"
		chown alice: "$HOMEDIR/pinentry/sc.pin"
		sed -e "s|^state_dir = .*|state_dir = $HOMEDIR/sc-state|" \
			-e "s|^store = .*|store = pkcs11:token=alice-sc;module-path=/usr/lib/softhsm/libsofthsm2.so?pin-source=$HOMEDIR/pinentry/sc.pin|" \
			"$TEST_TMP/pin.conf" >"$TEST_TMP/sc.conf"
		chmod 644 "$TEST_TMP/sc.conf"
		rm -rf "$HOMEDIR/sc-state"
		stack gdmsc "conf=$TEST_TMP/sc.conf express"
		start_notifier
		ca0=$(ca_lines)
		desktop_login gdmsc "$TEST_TMP/logout4"
		wait_for 40 grep -qs 'Notify' "$RUN/notify.log"
		grep -A3 'Notify' "$RUN/notify.log" | grep -q 'needs your smartcard: insert it'
		ok $? "smartcard not inserted: the notification asks her to insert it" || diag "$(cat "$RUN/notify.log" 2>&1)"
		jq -e '.retry == false and ([.events[] | select(.event == "needs-user" and (.message | test("insert the smartcard")))] | length >= 1)' \
			"$HOMEDIR/sc-state/last-pulse.json" >/dev/null
		ok $? "... the pulse recorded needs-user events saying so (no failure)" ||
			diag "$(jq -c '{ok,retry,error,events:[.events[]|{event,message}]}' "$HOMEDIR/sc-state/last-pulse.json" 2>&1)"
		press_enroll
		sleep 3
		# She inserts the card (a SoftHSM2 token appears) while the
		# interactive enrollment waits for it.
		runuser -u alice -- env HOME="$HOMEDIR" softhsm2-util --init-token --free --label alice-sc \
			--so-pin 4321 --pin 1111 >/dev/null
		wait_for 90 sh -c "grep Notify '$RUN/notify.log' | grep -q 'Certificates enrolled'"
		ok $? "she activates it and inserts the card: enrollment waits for it, then the certificates-ready notification" ||
			diag "$(cat "$RUN/notify.log")" "$(jq -c '{ok,error,counts}' "$HOMEDIR/sc-state/last-pulse.json" 2>&1)"
		tail -n +"$((ca0 + 1))" "$CALOG" | jq -e -s 'map(select(.template=="LabUser" and .disposition==3)) | length == 1' >/dev/null
		ok $? "... the CA issued LabUser for a key on the card"
		touch "$TEST_TMP/logout4"
		wait "$LOGIN"
	else
		diag "SoftHSM2 missing: the token PIN part not run"
	fi
else
	diag "dbus-daemon or python3-dbusmock missing: graphical part not run"
fi

done_testing
