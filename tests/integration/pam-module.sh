#!/bin/bash
# pam-module.sh - the installed pam_autoenroll.so is thin: it needs only
# libc and libpam, exports only the PAM entry points, never calls openlog
# (logging through pam_syslog), uses nothing of OpenSSL, Kerberos or LDAP,
# and names its helper at the fixed, installed path.  Also: the man page
# renders without warnings.
. "$(dirname "$0")/lib.sh"
MOD="$top_builddir/.libs/pam_autoenroll.so"
[ -f "$MOD" ] || skip_all "pam_autoenroll.so is not built"
command -v readelf >/dev/null && command -v nm >/dev/null || skip_all "binutils missing"

needed=$(readelf -d "$MOD" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
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
if command -v man >/dev/null; then
	w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$top_srcdir/docs/pam_autoenroll.8" 2>&1 >/dev/null)
	[ -z "$w" ]
	ok $? "pam_autoenroll(8) renders without warnings" || diag "$w"
fi
done_testing
