#!/bin/bash
# login.sh - what pam_autoenroll adds to a login: the time pam_open_session
# takes for the same session stack without and with the module, over N
# sessions each (default 200), with the lab DC up and with all its traffic
# dropped inside the lab namespace.  Sessions start 100 ms apart (logins
# on a workstation, each with its helper working in the background), and
# then back to back (a burst: 200 helpers competing for 2 cores).  Prints
# median, 99th percentile and maximum in milliseconds; then N logins at
# once (N login programs started together) with the DC dropped, and the
# 99th percentile the module adds to them.  Run as root after `make check`
# has built tests/pam (or `make tests/pam/pam-session tests/pam/pam_autoenroll_build.la`).
#
# The stacks (through pam_wrapper, as in tests/integration/lab-pam.sh):
#   without:  session required pam_permit.so
#   with:     session optional pam_autoenroll.so conf=...  +  pam_permit.so
# with alice's ticket cache in the PAM environment (KRB5CCNAME), as
# pam_krb5/pam_sss leave it.  Every session with the module really starts
# alice's helper; the helpers coalesce on her pulse lock.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
labctl=$top/tests/lab/labctl
bld=${BUILDDIR:-$top}
runs=${1:-200}
module=$bld/tests/pam/.libs/pam_autoenroll_build.so
session=$bld/tests/pam/pam-session
wrapper=$(ls /usr/lib/*/libpam_wrapper.so | head -1)
secdir=$(ls -d /lib/*/security | head -1)
[ -f "$module" ] && [ -x "$session" ] || { echo "build tests/pam first (make check, or BUILDDIR=...)" >&2; exit 1; }
$labctl up >/dev/null
$labctl local-users >/dev/null
. <($labctl env)
tmp=$(mktemp -d /tmp/ae-bench.XXXXXX)
chmod 755 "$tmp"
cleanup() {
	$labctl run -- nft delete table inet aebench 2>/dev/null || true
	pkill -u alice -x autoenroll-user 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
printf '[global]\ndomain = %s\nldap_timeout = 3\ndns_timeout = 1\n[user]\nstate_dir = %s/state\n' \
	"$AE_LAB_DOMAIN" "$tmp" >"$tmp/autoenroll.conf"
chmod 644 "$tmp/autoenroll.conf"
mkdir -p "$tmp/state" "$tmp/pam.d" && chown alice: "$tmp/state"
$labctl run --user alice -- true
cp "$AE_LAB_DIR/ccache/alice" "$tmp/cc" && chown alice: "$tmp/cc"
printf 'auth required %s/pam_permit.so\naccount required %s/pam_permit.so\nsession required %s/pam_permit.so\n' \
	"$secdir" "$secdir" "$secdir" >"$tmp/pam.d/without"
printf 'auth required %s/pam_permit.so\naccount required %s/pam_permit.so\nsession optional %s conf=%s\nsession required %s/pam_permit.so\n' \
	"$secdir" "$secdir" "$module" "$tmp/autoenroll.conf" "$secdir" >"$tmp/pam.d/with"
printf 'auth required %s/pam_deny.so\naccount required %s/pam_deny.so\nsession required %s/pam_deny.so\n' \
	"$secdir" "$secdir" "$secdir" >"$tmp/pam.d/other"

# report LABEL TAG STACK: median, p99 and maximum of $tmp/us, kept as
# $tmp/STACK.TAG.us
report() {
	awk -v label="$1" -v want="$runs" '{a[NR]=$1} END {
		med = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2
		p = int(NR * 0.99 + 0.999); if (p > NR) p = NR
		printf "%-36s n=%d  median %.3f ms  p99 %.3f ms  max %.3f ms%s\n", label, NR, med/1000, a[p]/1000, a[NR]/1000,
		       NR == want ? "" : sprintf("  (%d of %d sessions failed to open)", want - NR, want)
	}' "$tmp/us"
	cp "$tmp/us" "$tmp/$3.$2.us"
}
pamenv() { $labctl run -- env LD_PRELOAD="$wrapper" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$tmp/pam.d" "$@"; }
measure() { # STACK LABEL TAG [INTERVAL-MS]
	pamenv "$session" --count "$runs" --interval "${4:-100}" --putenv "KRB5CCNAME=FILE:$tmp/cc" "$1" alice |
		sed -n 's/^open_session_us //p' | sort -n >"$tmp/us"
	report "$2" "$3" "$1"
}
# $runs logins at once: one login program each, all started together.
# Not through pam_wrapper, whose processes started together race for its
# few /tmp/pam.X names: the stacks are mounted over /etc/pam.d in a mount
# namespace of their own instead (as pam-module.sh does under ASan).
measure_at_once() { # STACK LABEL TAG
	$labctl run -- unshare -m bash -c 'mount --bind "$5" /etc/pam.d &&
		for _ in $(seq "$1"); do "$2" --count 1 --interval 0 --putenv "$3" "$4" alice & done; wait' \
		_ "$runs" "$session" "KRB5CCNAME=FILE:$tmp/cc" "$1" "$tmp/pam.d" |
		sed -n 's/^open_session_us //p' | sort -n >"$tmp/us"
	report "$2" "$3" "$1"
}
p99() { awk '{a[NR]=$1} END {p = int(NR * 0.99 + 0.999); if (p > NR) p = NR; print a[p]}' "$1"; }
wait_helpers() { for _ in $(seq 100); do pgrep -u alice -x autoenroll-user >/dev/null || return 0; sleep 0.2; done; }

echo "pam_open_session, $runs sessions each, 100 ms apart ($(nproc) cores):"
measure without "without the module, DC up" up
measure with "with pam_autoenroll, DC up" up
wait_helpers
$labctl run -- nft -f - <<'NFT'
table inet aebench {
	chain in { type filter hook input priority 0; ip daddr 127.0.0.10 drop; }
}
NFT
rm -f "$tmp/state/policy-cache"
measure without "without the module, DC dropped" down
measure with "with pam_autoenroll, DC dropped" down
echo "back to back (a burst of $runs logins):"
measure with "with pam_autoenroll, DC dropped" burst 0
wait_helpers
echo "at once ($runs login programs started together), DC dropped:"
measure_at_once without "without the module" oncewithout
measure_at_once with "with pam_autoenroll" oncewith
printf "added by the module at the 99th percentile, $runs logins at once with the DC dropped: %.3f ms\n" \
	"$(( $(p99 "$tmp/with.oncewith.us") - $(p99 "$tmp/without.oncewithout.us") ))e-3"
$labctl run -- nft delete table inet aebench
wait_helpers
measure with "with pam_autoenroll, DC up" burstup 0
awk 'NR==FNR {a[NR]=$1; n=NR; next} {b[FNR]=$1} END {
	ma = (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
	mb = (FNR % 2) ? b[(FNR+1)/2] : (b[FNR/2] + b[FNR/2+1]) / 2
	printf "added by the module with the DC dropped: median %.3f ms\n", (mb - ma) / 1000
}' "$tmp/without.down.us" "$tmp/with.down.us"
awk 'NR==FNR {a[NR]=$1; n=NR; next} {b[FNR]=$1} END {
	ma = (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
	mb = (FNR % 2) ? b[(FNR+1)/2] : (b[FNR/2] + b[FNR/2+1]) / 2
	printf "added by the module with the DC up:      median %.3f ms\n", (mb - ma) / 1000
}' "$tmp/without.up.us" "$tmp/with.up.us"
