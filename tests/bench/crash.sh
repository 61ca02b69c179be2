#!/bin/bash
# crash.sh - crash safety, measured: TRIALS (default 64) pulses killed by
# SIGKILL at a random point, each followed by a normal pulse, then counted:
#   orphan keys       a key (file in keys/, private key on the token) whose
#                     id has no record
#   duplicates        more than one current (issued) certificate for a
#                     template
#   stuck new         records still in state "new" after the next pulse
#   stray temporaries temporary files left in the state directory
# All four must be 0.  The trials go round four kinds: alice's first pulse
# (enrollment of all her templates) and her renewal of LabShort (the pulse
# runs at 95 % of its lifetime, within its 2-hour renewal period, AE_TEST_NOW_OFFSET), keys on a SoftHSM2
# token; the machine's first pulse and its renewal of LabMachine (at 330 of
# its 365 days), keys in files.  Half the trials die at the Nth crash point
# the pulse reaches (AE_TEST_CRASH_AT=#N, N drawn from the points a whole
# pulse of that kind reaches: every store write, after the record, the key,
# the submission, the certificate on the token and in the store), half
# after a random delay within 3/4 of a whole pulse's time (anywhere:
# LDAP, RPC, trust, live files).  Prints where the kills landed: the crash
# point, or for delays what the killed pulse left (nothing yet, a record in
# state new, a new certificate, all done).
#
# Run as root after building (BUILDDIR, default the source tree) with the
# lab's variables (AE_LAB_DIR, AE_LAB_NETNS) for a lab of one's own.
# Exit status 1 when a count is not 0.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
labctl=$top/tests/lab/labctl
bld=${BUILDDIR:-$top}
bin=$bld/tests/bin
trials=${1:-64}
MODULE=/usr/lib/softhsm/libsofthsm2.so
[ -x "$bin/autoenroll-user" ] || { echo "build first (make check TESTS=): $bin/autoenroll-user not found" >&2; exit 1; }
[ -e "$MODULE" ] && command -v softhsm2-util >/dev/null && command -v pkcs11-tool >/dev/null ||
	{ echo "SoftHSM2 and pkcs11-tool are needed (tests/deps.sh)" >&2; exit 1; }
$labctl up >/dev/null || exit 1
. <($labctl env)
tmp=$(mktemp -d /tmp/ae-crash.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export SOFTHSM2_CONF=$tmp/softhsm2.conf
mkdir -p "$tmp/tokens"
printf 'directories.tokendir = %s/tokens\n' "$tmp" >"$SOFTHSM2_CONF"
printf '1111' >"$tmp/pin"
chmod 600 "$tmp/pin"
DAY=86400

# conf KIND N: trial N's configuration (own state directory and token)
conf() {
	local store=
	case $1 in user-*)
		softhsm2-util --init-token --free --label "crash$2" --so-pin 4321 --pin 1111 >/dev/null || exit 1
		store="store = pkcs11:token=crash$2;module-path=$MODULE?pin-source=$tmp/pin"
	esac
	printf '[global]\nrpc_timeout = 20\ncrl_timeout = 10\npolicy_refresh = 0\n[user]\nstate_dir = %s/%s/user\n%s\n[machine]\nkeytab = %s/ws1.keytab\nstate_dir = %s/%s/machine\n' \
		"$tmp" "$2" "$store" "$AE_LAB_DIR" "$tmp" "$2" >"$tmp/$2.conf"
}
ctx() { case $1 in user-*) echo user ;; *) echo machine ;; esac; }
offset() { case $1 in user-renew) echo $((DAY * 95 / 100)) ;; machine-renew) echo $((DAY * 330)) ;; *) echo 0 ;; esac; }
# helper KIND N [ENV...]: one pulse of the helper, in the lab, in the background ($! its pid)
helper() {
	local kind=$1 n=$2
	shift 2
	if [ "$(ctx "$kind")" = user ]; then
		$labctl run --user alice -- env AE_JOURNAL_SOCKET=- "$@" "$bin/autoenroll-user" --json -c "$tmp/$n.conf" \
			>"$tmp/$n.out" 2>"$tmp/$n.err" &
	else
		$labctl run --machine -- env AE_JOURNAL_SOCKET=- "$@" "$bin/autoenroll-machine" --json -c "$tmp/$n.conf" \
			>"$tmp/$n.out" 2>"$tmp/$n.err" &
	fi
}
pulse() { helper "$@"; { wait $!; } 2>/dev/null; }  # no "Killed" from bash
status() { "$bin/autoenroll" status --"$(ctx "$1")" --json -c "$tmp/$2.conf" 2>/dev/null; }
statedir() { echo "$tmp/$2/$(ctx "$1")"; }
# The state a kill left, for delay kills: none, new, issued (a certificate
# more than before), done (as a whole pulse leaves it)
left() { # KIND N BEFORE-ISSUED
	local s
	s=$(status "$1" "$2") || { echo "status-unreadable"; return; }
	if [ "$(jq '[.records[] | select(.state=="new")] | length' <<<"$s")" -gt 0 ]; then echo "record-new"
	elif [ "$(jq '[.records[] | select(.state=="issued" or .state=="archived")] | length' <<<"$s")" -le "$3" ]; then echo "nothing-yet"
	else echo "certificate-stored"
	fi
}
# count KIND N: "orphans duplicates new strays" after the next pulse
count() {
	local kind=$1 n=$2 d ids s orphans=0 dup new strays
	d=$(statedir "$kind" "$n")
	s=$(status "$kind" "$n") || { echo "status of trial $n unreadable" >&2; echo "1 0 0 0"; return; }
	ids=$(jq -r '.records[].id' <<<"$s")
	if [ "$(ctx "$kind")" = user ]; then
		for k in $(pkcs11-tool --module "$MODULE" --token-label "crash$n" --login --pin 1111 --list-objects --type privkey 2>/dev/null |
			sed -n 's/^ *ID: *//p'); do
			grep -qix "$k" <<<"$ids" || orphans=$((orphans + 1))
		done
	fi
	for f in "$d"/keys/*; do
		[ -e "$f" ] || continue
		k=$(basename "$f"); k=${k%%.*}
		grep -qx "$k" <<<"$ids" || orphans=$((orphans + 1))
	done
	dup=$(jq '[.records[] | select(.state=="issued") | .template] | group_by(.) | map(select(length > 1)) | length' <<<"$s")
	new=$(jq '[.records[] | select(.state=="new")] | length' <<<"$s")
	strays=$(find "$d" -name '*.tmp*' | wc -l)
	echo "$orphans $dup $new $strays"
}

kinds=(user-enroll user-renew machine-enroll machine-renew)
declare -A points dur
# A whole pulse of each kind: its duration and how many crash points it reaches.
for kind in "${kinds[@]}"; do
	conf "$kind" "cal-$kind"
	[ "${kind#*-}" = renew ] && pulse "$kind" "cal-$kind"
	t0=$(date +%s%N)
	pulse "$kind" "cal-$kind" AE_TEST_NOW_OFFSET="$(offset "$kind")" AE_TEST_CRASH_LOG="$tmp/cal-$kind.points"
	dur[$kind]=$((($(date +%s%N) - t0) / 1000000))
	points[$kind]=$(wc -l <"$tmp/cal-$kind.points" 2>/dev/null || echo 0)
	jq -e '.counts.enrolled + .counts.renewed > 0' "$tmp/cal-$kind.out" >/dev/null ||
		{ echo "calibration: a whole $kind pulse did nothing" >&2; cat "$tmp/cal-$kind.err" >&2; exit 1; }
	printf 'whole %-15s %6s ms, %3s crash points\n' "$kind" "${dur[$kind]}" "${points[$kind]}"
done

declare -A landed
t_orph=0 t_dup=0 t_new=0 t_stray=0 not_killed=0
for i in $(seq "$trials"); do
	kind=${kinds[$(((i - 1) % 4))]}
	conf "$kind" "$i"
	[ "${kind#*-}" = renew ] && pulse "$kind" "$i" # the certificate to renew
	before=$(status "$kind" "$i" | jq '[.records[] | select(.state=="issued" or .state=="archived")] | length')
	if [ $((((i - 1) / 4) % 2)) -eq 0 ]; then
		nth=$((RANDOM % points[$kind] + 1))
		rm -f "$tmp/$i.points"
		pulse "$kind" "$i" AE_TEST_NOW_OFFSET="$(offset "$kind")" AE_TEST_CRASH_AT="#$nth" AE_TEST_CRASH_LOG="$tmp/$i.points"
		rc=$?
		where="point $(tail -1 "$tmp/$i.points" 2>/dev/null)"
	else
		delay=$((RANDOM * dur[$kind] * 3 / 4 / 32768)) # within 3/4 of a whole pulse: most land
		helper "$kind" "$i" AE_TEST_NOW_OFFSET="$(offset "$kind")"
		pid=$!
		# labctl run execs into the helper: count from when it is the helper
		for _ in $(seq 200); do
			case $(cat /proc/$pid/comm 2>/dev/null) in autoenroll-*) break ;; esac
			sleep 0.01
		done
		sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
		kill -KILL "$pid" 2>/dev/null
		{ wait "$pid"; } 2>/dev/null
		rc=$?
		where="delay: $(left "$kind" "$i" "$before")"
	fi
	[ "$rc" -eq 137 ] || { not_killed=$((not_killed + 1)); where="not killed (ended first)"; }
	landed["$kind $where"]=$((${landed["$kind $where"]:-0} + 1))
	pulse "$kind" "$i" # the normal pulse
	read -r o d n s < <(count "$kind" "$i")
	t_orph=$((t_orph + o)) t_dup=$((t_dup + d)) t_new=$((t_new + n)) t_stray=$((t_stray + s))
	[ "$o$d$n$s" = 0000 ] || echo "trial $i ($kind, $where): orphans $o, duplicates $d, new $n, strays $s (state kept in $tmp/$i)"
	[ "$o$d$n$s" = 0000 ] && rm -rf "${tmp:?}/$i"
done
echo
echo "where the kills landed:"
for k in "${!landed[@]}"; do printf '  %3d  %s\n' "${landed[$k]}" "$k"; done | sort -k2
echo
echo "trials: $trials ($((trials - not_killed)) killed, $not_killed ended before the kill)"
echo "orphan keys: $t_orph"
echo "duplicate certificates: $t_dup"
echo "records stuck in state new: $t_new"
echo "stray temporary files: $t_stray"
if [ $((t_orph + t_dup + t_new + t_stray)) -ne 0 ]; then
	trap - EXIT
	echo "state kept in $tmp"
	exit 1
fi
