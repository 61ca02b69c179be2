#!/bin/bash
# package.sh - the Debian package on this host, as an admin installs it:
# built with dpkg-buildpackage (or $AE_DEB, built earlier by run-tests.sh),
# lintian without errors, installed with apt-get, its pam-auth-update
# profile enabled; the user timer's ExecStart line enrolls alice; alice
# logs in through the real libpam with the installed module (pamtester, a
# service file that includes common-session) and her certificates appear;
# then the package is purged and nothing of it is left outside
# /var/lib/autoenroll.  The host's /etc/pam.d/common-* and pam-auth-update
# state (/var/lib/pam) are restored as they were.
#
# Alice's Kerberos ticket comes from the lab (kinit), in her default FILE
# cache: the stack has no pam_krb5 authentication, so nothing destroys the
# cache when the PAM handle ends.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || skip_all "installs a package: needs root"
for c in dpkg-buildpackage pamtester pam-auth-update apt-get; do
	command -v "$c" >/dev/null 2>&1 || skip_all "$c is not installed (tests/deps.sh)"
done
dpkg-query -W -f='${Status}' autoenroll 2>/dev/null | grep -q "ok installed" &&
	skip_all "the autoenroll package is installed on this host: the test would remove it"
lab_require --no-binary

PKG=autoenroll
SERVICE=ae-pkgtest
chmod 755 "$TEST_TMP"

# ===== build (unless given) =====
DEB=${AE_DEB:-}
if [ -z "$DEB" ]; then
	src=$TEST_TMP/src/autoenroll
	mkdir -p "$src"
	if git -C "$top_srcdir" rev-parse >/dev/null 2>&1; then
		(cd "$top_srcdir" && git ls-files -co --exclude-standard | grep -v '^build' | tar -cf - -T -) | tar -xf - -C "$src"
	else
		(cd "$top_srcdir" && tar --exclude='./build*' -cf - .) | tar -xf - -C "$src"
	fi
	t0=$(date +%s)
	(cd "$src" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b) >"$TEST_TMP/build.log" 2>&1
	ok $? "dpkg-buildpackage -us -uc -b builds the package ($(( $(date +%s) - t0 )) s, nocheck)" ||
		{ diag "$(tail -30 "$TEST_TMP/build.log")"; done_testing; exit 1; }
	DEB=$(ls "$TEST_TMP"/src/${PKG}_*.deb | head -1)
fi
[ -f "$DEB" ] || { ok 1 "the package exists ($DEB)"; done_testing; exit 1; }
diag "package: $DEB, Installed-Size $(dpkg-deb -f "$DEB" Installed-Size) KiB"
if command -v lintian >/dev/null 2>&1; then
	lintian "$DEB" >"$TEST_TMP/lintian.out" 2>/dev/null
	! grep -q '^E:' "$TEST_TMP/lintian.out"
	ok $? "lintian reports no errors ($(grep -c '^W:' "$TEST_TMP/lintian.out") warnings)" ||
		diag "$(cat "$TEST_TMP/lintian.out")"
fi

# ===== what the host had, restored at the end =====
mkdir -p "$TEST_TMP/before"
cp -a /etc/pam.d/common-* "$TEST_TMP/before/"
cp -a /var/lib/pam "$TEST_TMP/before/var-lib-pam"
had_state=no
[ -e /var/lib/autoenroll ] && had_state=yes
"$LABCTL" local-users >"$TEST_TMP/users.log" 2>&1 || { cat "$TEST_TMP/users.log"; skip_all "cannot create the lab's local users"; }
eval "$("$LABCTL" env)"
LAB=$AE_LAB_DIR
uid=$(id -u alice)
HOMEDIR=$(getent passwd alice | cut -d: -f6)
STATE=$HOMEDIR/.local/share/autoenroll
CCACHE=/tmp/krb5cc_$uid
had_ccache=no
[ -e "$CCACHE" ] && { had_ccache=yes; cp -a "$CCACHE" "$TEST_TMP/ccache.before"; }

cleanup() {
	pkill -u alice -f 'autoenroll-(user|notify)' 2>/dev/null
	dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q installed &&
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "$PKG" >/dev/null 2>&1
	rm -f "/etc/pam.d/$SERVICE"
	for f in "$TEST_TMP"/before/common-*; do cp -a "$f" /etc/pam.d/; done
	rm -rf /var/lib/pam && cp -a "$TEST_TMP/before/var-lib-pam" /var/lib/pam
	[ "$had_state" = yes ] || rm -rf /var/lib/autoenroll
	if [ "$had_ccache" = yes ]; then cp -a "$TEST_TMP/ccache.before" "$CCACHE"; else rm -f "$CCACHE"; fi
	rm -rf "$TEST_TMP"
}
trap cleanup EXIT

# ===== install =====
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$(readlink -f "$DEB")" >"$TEST_TMP/install.log" 2>&1
ok $? "apt-get installs the package" || diag "$(tail -20 "$TEST_TMP/install.log")"
dpkg-query -L "$PKG" >"$TEST_TMP/files" 2>/dev/null
pammod=$(pkg-config --variable=libdir pam 2>/dev/null)/security/pam_autoenroll.so
grep -qxF "$pammod" "$TEST_TMP/files"
ok $? "the PAM module is where libpam looks: $pammod"
[ "$(dpkg-query -W -f='${Conffiles}' "$PKG" | awk '{print $1}' | tr '\n' ' ')" = "/etc/autoenroll/autoenroll.conf " ]
ok $? "/etc/autoenroll/autoenroll.conf is the package's conffile" || diag "$(dpkg-query -W -f='${Conffiles}' "$PKG")"
sysdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
userdir=$(pkg-config --variable=systemduserunitdir systemd 2>/dev/null || echo /usr/lib/systemd/user)
grep -qxF "$sysdir/autoenroll-machine.timer" "$TEST_TMP/files" && grep -qxF "$userdir/autoenroll-user.timer" "$TEST_TMP/files" &&
	grep -qxF "$userdir/autoenroll-user.service" "$TEST_TMP/files"
ok $? "system units in $sysdir, user units in $userdir"
[ -L /etc/systemd/system/timers.target.wants/autoenroll-machine.timer ] &&
	[ -L /etc/systemd/system/multi-user.target.wants/autoenroll-machine.service ]
ok $? "the machine timer and the boot pulse (service) are enabled" || diag "$(ls -lR /etc/systemd/system | grep autoenroll)"
[ ! -e /etc/systemd/user/timers.target.wants/autoenroll-user.timer ]
ok $? "the user timer is installed, not enabled for every user"
if command -v systemd-analyze >/dev/null 2>&1; then
	systemd-analyze verify "$userdir/autoenroll-user.service" "$userdir/autoenroll-user.timer" \
		"$sysdir/autoenroll-machine.service" "$sysdir/autoenroll-machine.timer" >"$TEST_TMP/verify.out" 2>&1
	ok $? "systemd-analyze verify accepts the installed units" || diag "$(cat "$TEST_TMP/verify.out")"
fi
grep -q 'OnUnitActiveSec=8h' "$userdir/autoenroll-user.timer" && grep -q '^RandomizedDelaySec=' "$userdir/autoenroll-user.timer"
ok $? "the user timer: every 8 hours, randomized delay"

# ===== the pam-auth-update profile =====
prof=/usr/share/pam-configs/autoenroll
grep -q '^Session-Type: Additional' "$prof" && grep -Eq '^[[:space:]]+optional[[:space:]]+pam_autoenroll\.so' "$prof"
ok $? "the profile: Session-Type Additional, session optional pam_autoenroll.so" || diag "$(cat "$prof")"
pam-auth-update --enable autoenroll >"$TEST_TMP/pau.log" 2>&1
ok $? "pam-auth-update --enable autoenroll" || diag "$(cat "$TEST_TMP/pau.log")"
grep -q 'pam_autoenroll\.so' /etc/pam.d/common-session
ok $? "common-session now has pam_autoenroll" || diag "$(cat /etc/pam.d/common-session)"
# After the modules that get the user's ticket, whichever are there.
line_of() { grep -n "$1" /etc/pam.d/common-session | head -1 | cut -d: -f1; }
ours=$(line_of pam_autoenroll)
order_ok=0
for m in pam_krb5 pam_sss pam_unix; do
	l=$(line_of "$m")
	[ -z "$l" ] || [ "$l" -lt "${ours:-0}" ] || order_ok=1
done
ok $order_ok "pam_autoenroll comes after pam_krb5, pam_sss and pam_unix" || diag "$(grep -v '^#' /etc/pam.d/common-session)"

# ===== the user timer's ExecStart line enrolls =====
"$LABCTL" run --user alice -- true >/dev/null 2>&1
install -o alice -g "$(id -g alice)" -m 600 "$LAB/ccache/alice" "$CCACHE"
rm -rf "$HOMEDIR/.local/share/autoenroll"
exec_line=$(sed -n 's/^ExecStart=//p' "$userdir/autoenroll-user.service")
# As the user manager runs it: the user's environment, the default cache.
in_lab runuser -u alice -- env -i HOME="$HOMEDIR" USER=alice LOGNAME=alice PATH=/usr/bin:/bin \
	$exec_line >"$TEST_TMP/timer.out" 2>&1
rc=$?
[ $rc -eq 0 ] && jq -e '.ok == true and .counts.enrolled >= 1' "$STATE/last-pulse.json" >/dev/null 2>&1
ok $? "the user service's ExecStart ($exec_line) enrolls alice ($(jq -r '.counts.enrolled' "$STATE/last-pulse.json" 2>/dev/null) enrolled, exit $rc)" ||
	diag "$(cat "$TEST_TMP/timer.out")" "$(jq -c '{ok,error,counts}' "$STATE/last-pulse.json" 2>&1)"

# ===== alice logs in through libpam with the installed module =====
rm -rf "$HOMEDIR/.local/share/autoenroll"
cat >"/etc/pam.d/$SERVICE" <<'EOF'
# written and removed by autoenroll's tests/integration/package.sh
auth     required  pam_permit.so
account  required  pam_permit.so
session  include   common-session
EOF
wait_for() { # wait_for SECONDS CMD...
	local end=$((SECONDS + $1)); shift
	until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.2; done
}
in_lab pamtester -I tty=pts/9 -I rhost=192.0.2.7 "$SERVICE" alice open_session close_session >"$TEST_TMP/login.out" 2>&1
ok $? "pamtester opens and closes a session for alice through common-session" || diag "$(cat "$TEST_TMP/login.out")"
wait_for 90 test -s "$STATE/last-pulse.json"
jq -e '.ok == true and .counts.enrolled >= 1' "$STATE/last-pulse.json" >/dev/null 2>&1
ok $? "her login pulse enrolled ($(jq -r '.counts.enrolled' "$STATE/last-pulse.json" 2>/dev/null) enrolled)" ||
	diag "$(jq -c '{ok,error,counts}' "$STATE/last-pulse.json" 2>&1)" "$(journalctl -t autoenroll-user -n 10 --no-pager 2>/dev/null)"
n=$(ls "$STATE"/certs/*.pem 2>/dev/null | wc -l)
[ "$n" -ge 1 ] && [ -z "$(find "$STATE" ! -user alice)" ]
ok $? "her certificates appear in her home ($n), owned by her"
rm -f "/etc/pam.d/$SERVICE"

# ===== purge =====
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "$PKG" >"$TEST_TMP/purge.log" 2>&1
ok $? "apt-get purge removes the package" || diag "$(tail -20 "$TEST_TMP/purge.log")"
left=""
while read -r f; do
	[ -d "$f" ] && continue # directories (and /lib -> usr/lib) are shared
	[ -e "$f" ] || [ -L "$f" ] && left="$left $f"
done <"$TEST_TMP/files"
for d in /etc/autoenroll /usr/libexec/autoenroll /usr/share/doc/autoenroll; do
	[ -e "$d" ] && left="$left $d"
done
left="$left $(find /etc/systemd /var/lib/systemd /usr/share/pam-configs -name '*autoenroll*' 2>/dev/null | tr '\n' ' ')"
[ -z "${left// /}" ]
ok $? "nothing of the package is left outside /var/lib/autoenroll" || diag "left:$left"
! grep -q pam_autoenroll /etc/pam.d/common-*
ok $? "the profile is gone from /etc/pam.d/common-*"
same=0
for f in "$TEST_TMP"/before/common-*; do cmp -s "$f" "/etc/pam.d/${f##*/}" || same=1; done
ok $same "the purge left /etc/pam.d/common-* as they were before the install" ||
	diag "$(for f in "$TEST_TMP"/before/common-*; do diff -u "$f" "/etc/pam.d/${f##*/}"; done)"
done_testing
