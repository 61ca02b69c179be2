#!/bin/bash
# pam-module.sh - the installed pam_autoenroll.so is thin: it needs only
# libc and libpam, exports only the PAM entry points, never calls openlog
# (logging through pam_syslog), uses nothing of OpenSSL, Kerberos or LDAP,
# and names its helper at the fixed, installed path.  Also: the man page
# renders without warnings.  machine_pulse starts the systemd unit from a
# detached process, never the root helper in the login's tree.
. "$(dirname "$0")/lib.sh"
MOD="$top_builddir/.libs/pam_autoenroll.so"
[ -f "$MOD" ] || skip_all "pam_autoenroll.so is not built"
command -v readelf >/dev/null && command -v nm >/dev/null || skip_all "binutils missing"

# A sanitized build (AE_SANITIZED, tests/run-tests.sh) links the sanitizers' runtimes too.
needed=$(readelf -d "$MOD" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort |
	{ if [ -n "${AE_SANITIZED:-}" ]; then grep -v -e '^libasan\.' -e '^libubsan\.'; else cat; fi; } | tr '\n' ' ')
[ "$needed" = "libc.so.6 libpam.so.0 " ]
ok $? "links libc and libpam only (NEEDED: $needed)"
exported=$(nm -D --defined-only "$MOD" | awk '$2 == "T" {print $3}' | sort | tr '\n' ' ')
[ "$exported" = "pam_sm_authenticate pam_sm_close_session pam_sm_open_session pam_sm_setcred " ]
ok $? "exports the PAM entry points only ($exported)"
undef=$(nm -D --undefined-only "$MOD" | awk '{print $2}' | sed 's/@.*//')
! grep -qx -e openlog -e closelog -e syslog -e vsyslog <<<"$undef"
ok $? "never calls openlog/syslog itself (pam_syslog only)"
grep -qx pam_syslog <<<"$undef" && grep -qx execve <<<"$undef" && grep -qx setresuid <<<"$undef" &&
	grep -qx setgroups <<<"$undef"
ok $? "logs with pam_syslog; starts the helper with setgroups, setresuid, execve"
! grep -q -i -e ssl -e krb5 -e ldap -e gss -e curl -e dbus <<<"$undef"
ok $? "no network, crypto, Kerberos, LDAP or D-Bus symbol"
pkglibexecdir=$(sed -n 's/^pkglibexecdir = //p' "$top_builddir/Makefile")
libexecdir=$(sed -n 's/^libexecdir = //p' "$top_builddir/Makefile")
prefix=$(sed -n 's/^prefix = //p' "$top_builddir/Makefile")
exec_prefix=$(sed -n 's/^exec_prefix = //p' "$top_builddir/Makefile")
path=$(eval "prefix='$prefix'; exec_prefix=\"$exec_prefix\"; libexecdir=\"$libexecdir\"; echo \"$libexecdir\"")/autoenroll/autoenroll-user
strings "$MOD" | grep -qx "$path"
ok $? "starts its helper at the fixed installed path $path"
# machine_pulse: no root work in the login's process tree.  The module asks
# systemd (systemctl --no-block start autoenroll-machine.service, from a
# detached grandchild) and does nothing without systemd.  Each login runs
# in a private mount namespace whose /run has systemd's directory or not
# and whose systemctl is a stand-in that records how it was run.
WRAPPER=$(ls /usr/lib/*/libpam_wrapper.so 2>/dev/null | head -1)
SECDIR=$(ls -d /lib/*/security /usr/lib/*/security 2>/dev/null | head -1)
SESSION="$top_builddir/tests/pam/pam-session"
if [ "$(id -u)" -eq 0 ] && [ -n "$WRAPPER" ] && [ -x "$SESSION" ] && [ -x /usr/bin/systemctl ] &&
	unshare -m true 2>/dev/null; then
	mkdir -p "$TEST_TMP/pam.d"
	printf 'auth required %s/pam_permit.so\naccount required %s/pam_permit.so\nsession optional %s machine_pulse debug\nsession required %s/pam_permit.so\n' \
		"$SECDIR" "$SECDIR" "$MOD" "$SECDIR" >"$TEST_TMP/pam.d/machine"
	printf 'auth required %s/pam_deny.so\naccount required %s/pam_deny.so\nsession required %s/pam_deny.so\n' \
		"$SECDIR" "$SECDIR" "$SECDIR" >"$TEST_TMP/pam.d/other"
	cat >"$TEST_TMP/systemctl" <<EOF
#!/bin/sh
{ echo "args=\$*"; echo "ppid=\$PPID"; echo "sid=\$(ps -o sid= -p \$\$ | tr -d ' ')"
  echo "nnp=\$(sed -n 's/^NoNewPrivs:[[:space:]]*//p' /proc/self/status)"
  echo "env=\$(env | grep -v -e '^PWD=' -e '^SHLVL=' -e '^_=' | tr '\n' ' ')"; } >"$TEST_TMP/systemctl.tmp"
mv "$TEST_TMP/systemctl.tmp" "$TEST_TMP/systemctl.log"
EOF
	chmod 755 "$TEST_TMP/systemctl"
	login_ns() { # login_ns yes|no: a login as root, systemd running or not
		unshare -m sh -c 'mount -t tmpfs tmpfs /run && { [ "$1" = no ] || mkdir -p /run/systemd/system; } &&
			mount --bind "$2" /usr/bin/systemctl && shift 2 && exec "$@"' sh "$1" "$TEST_TMP/systemctl" \
			"${login_cmd[@]}" >"$TEST_TMP/login.out" 2>&1
	}
	# The sanitized build (AE_SANITIZED, tests/run-tests.sh): pam_wrapper
	# opens libpam with RTLD_DEEPBIND, which ASan refuses, so the login's
	# namespace gets the test's pam.d as /etc/pam.d instead; the module's
	# debug lines then go to a syslog that is not there, and are not checked.
	if [ -n "${AE_SANITIZED:-}" ]; then
		login_cmd=(sh -c 'mount --bind "$1" /etc/pam.d && shift && exec "$@"' sh "$TEST_TMP/pam.d"
			"$SESSION" --check-leaks machine root)
		logged() { :; }
	else
		login_cmd=(env LD_PRELOAD="$WRAPPER" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$TEST_TMP/pam.d" PAM_WRAPPER_DEBUGLEVEL=3
			"$SESSION" --check-leaks machine root)
		logged() { grep -q "$1" "$TEST_TMP/login.out"; }
	fi
	rm -f "$TEST_TMP/systemctl.log"
	login_ns no; rc=$?
	sleep 1
	[ $rc -eq 0 ] && [ ! -e "$TEST_TMP/systemctl.log" ] &&
		logged "systemd is not running (no /run/systemd/system): no machine pulse asked for"
	ok $? "machine_pulse without systemd: the session opens, nothing is started, the debug log says why" ||
		diag "rc=$rc" "$(grep -i autoenroll "$TEST_TMP/login.out")"
	session_sid=$(ps -o sid= -p $$ | tr -d ' ')
	login_ns yes; rc=$?
	for _ in $(seq 50); do [ -s "$TEST_TMP/systemctl.log" ] && break; sleep 0.1; done
	[ $rc -eq 0 ] && grep -qx "args=--no-block start autoenroll-machine.service" "$TEST_TMP/systemctl.log"
	ok $? "machine_pulse with systemd: the session opens (nothing leaked) and systemctl --no-block start autoenroll-machine.service runs" ||
		diag "rc=$rc" "$(cat "$TEST_TMP/systemctl.log" 2>&1)" "$(grep -i autoenroll "$TEST_TMP/login.out")"
	sid=$(sed -n 's/^sid=//p' "$TEST_TMP/systemctl.log")
	ppid=$(sed -n 's/^ppid=//p' "$TEST_TMP/systemctl.log")
	[ -n "$sid" ] && [ "$sid" != "$session_sid" ] && [ "$ppid" != "$$" ]
	ok $? "... detached: a session of its own, not a child of the login (sid $sid, ppid $ppid)"
	grep -qx "nnp=1" "$TEST_TMP/systemctl.log" &&
		grep -qx "env=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin " "$TEST_TMP/systemctl.log"
	ok $? "... with no_new_privs and only PATH in its environment" || diag "$(cat "$TEST_TMP/systemctl.log")"
	if [ -n "${AE_SANITIZED:-}" ]; then
		ok 0 "# SKIP the debug log (no syslog in the sanitized build's login)"
	else
		logged "asked systemd for a machine pulse (/usr/bin/systemctl --no-block start autoenroll-machine.service)"
		ok $? "... and the debug log says so" || diag "$(grep -i autoenroll "$TEST_TMP/login.out")"
	fi
fi
if command -v man >/dev/null; then
	w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$top_srcdir/docs/pam_autoenroll.8" 2>&1 >/dev/null)
	[ -z "$w" ]
	ok $? "pam_autoenroll(8) renders without warnings" || diag "$w"
fi
done_testing
