#!/bin/bash
# compare.sh - before and after, in one run: builds two revisions of this
# repository (each in its own temporary git worktree, out-of-tree build,
# programs only), then against one lab, interleaving the two builds (A B A
# B ...) so that drift hits both alike, measures for each
#   - "autoenroll policy --json" as alice, and --machine as the workstation,
#   - one enrollment: "autoenroll enroll --template LabUser" as alice into a
#     fresh state directory,
#   - a first machine pulse ("autoenroll-machine --json", fresh state
#     directory: policy, trust, every eligible machine template enrolled),
#   - a machine pulse with nothing to do (the same state directory right
#     after: policy cached, policy_refresh = 600),
# and prints the median wall time (ms, including "labctl run" and process
# start) and the LDAP and RPC round trips (from the programs' --json; the
# enrollment has no --json, so none for it) as a before/after table with
# the difference.  Enrollments leave certificates in the lab CA.
#   tests/bench/compare.sh BEFORE [AFTER]    (AFTER: default HEAD)
# N runs each: $AE_BENCH_RUNS (default 7).  Run as root.  Measures under
# the integration tests' lock (tests/integration/lib.sh), so that test runs
# do not disturb the figures; leaves the lab up if it was up, else takes it
# down again.  Prints the figures; asserts nothing.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
labctl=$top/tests/lab/labctl
runs=${AE_BENCH_RUNS:-7}
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 BEFORE [AFTER]   (git revisions; AFTER defaults to HEAD)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "run as root (the lab uses a network namespace)" >&2; exit 1; }
for c in jq git autoreconf flock; do
	command -v $c >/dev/null || { echo "needs $c" >&2; exit 1; }
done
rev=() label=()
for r in "$1" "${2:-HEAD}"; do
	h=$(git -C "$top" rev-parse --verify -q "$r^{commit}") || { echo "no such revision: $r" >&2; exit 1; }
	rev+=("$h")
	label+=("$(git -C "$top" log -1 --format='%h %<(60,trunc)%s' "$h")")
done

tmp=$(mktemp -d /tmp/ae-compare.XXXXXX)
lab_was_up=
cleanup() {
	for x in A B; do
		[ -d "$tmp/src-$x" ] && git -C "$top" worktree remove --force "$tmp/src-$x" >/dev/null 2>&1
	done
	git -C "$top" worktree prune >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

# Builds: one after the other (the machine may be shared), make -j2.
build() { # X REV
	local x=$1 r=$2
	echo "building $x: $(git -C "$top" log -1 --format='%h %s' "$r" | cut -c1-72)" >&2
	git -C "$top" worktree add -q --detach "$tmp/src-$x" "$r" >"$tmp/build-$x.log" 2>&1 &&
	(cd "$tmp/src-$x" && autoreconf -fi) >>"$tmp/build-$x.log" 2>&1 &&
	mkdir -p "$tmp/build-$x" &&
	(cd "$tmp/build-$x" && "$tmp/src-$x/configure" -q && make -j"${AE_BENCH_JOBS:-2}") >>"$tmp/build-$x.log" 2>&1 ||
		{ echo "build of $x ($r) failed:" >&2; tail -20 "$tmp/build-$x.log" >&2; exit 1; }
	for p in autoenroll autoenroll-machine; do
		[ -x "$tmp/build-$x/$p" ] || { echo "build of $x has no $p" >&2; exit 1; }
	done
}
build A "${rev[0]}"
build B "${rev[1]}"

# The lab, under the integration tests' lock (daemons that labctl up starts
# must not inherit it).
exec 8>"${AE_LAB_DIR:-/tmp/autoenroll-lab}.tests.lock"
echo "waiting for the integration tests' lock..." >&2
flock 8
"$labctl" status >/dev/null 2>&1 && lab_was_up=1
"$labctl" up >"$tmp/lab-up.log" 2>&1 8>&- || { echo "labctl up failed:" >&2; tail -20 "$tmp/lab-up.log" >&2; exit 1; }
. <("$labctl" env)

median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
conf() { # FILE DIR
	mkdir -p "$2"
	printf '[global]\npolicy_refresh = 600\n[machine]\nkeytab = %s/ws1.keytab\nstate_dir = %s/m\n[user]\nstate_dir = %s/u\n' \
		"$AE_LAB_DIR" "$2" "$2" >"$1"
}
# measure X KEY JQ-FILTER|- LABCTL-RUN-OPTS... -- CMD...: runs CMD once in
# the lab, appends "ms ldap rpc" to $tmp/res/X.KEY (round trips from the JSON
# on stdout through JQ-FILTER, "-" when there is none); a failed run is
# counted in $tmp/res/X.KEY.fail and its error shown once.
mkdir -p "$tmp/res"
measure() {
	local x=$1 key=$2 filter=$3 t0 t1 st=0 trips
	shift 3
	t0=$(date +%s%N)
	"$labctl" run "$@" >"$tmp/out.json" 2>"$tmp/err" 8>&- || st=$?
	t1=$(date +%s%N)
	if [ "$filter" = - ]; then
		trips="- -"
	else
		trips=$(jq -r "$filter" "$tmp/out.json" 2>/dev/null) || trips="- -"
	fi
	if [ "$st" -ne 0 ]; then
		[ -e "$tmp/res/$x.$key.fail" ] ||
			echo "$x $key: exit $st: $(tail -2 "$tmp/err" | tr '\n' ' ')" >&2
		echo "$st" >>"$tmp/res/$x.$key.fail"
	fi
	echo "$(((t1 - t0) / 1000000)) $trips" >>"$tmp/res/$x.$key"
	[ "$key" != first ] || jq -r '.counts.enrolled' "$tmp/out.json" >>"$tmp/res/$x.enrolled" 2>/dev/null || true
}

# Warm-up, not counted: the lab's caches and the Kerberos tickets.
for x in A B; do
	conf "$tmp/warm-$x.conf" "$tmp/warm-$x"
	"$labctl" run --user alice -- "$tmp/build-$x/autoenroll" policy -c "$tmp/warm-$x.conf" >/dev/null 2>&1 8>&- || true
	"$labctl" run --machine -- "$tmp/build-$x/autoenroll" policy --machine -c "$tmp/warm-$x.conf" >/dev/null 2>&1 8>&- || true
done

echo "measuring: $runs runs of each, A B interleaved..." >&2
P='"\(.summary.ldap_round_trips) -"'
J='"\(.ldap_round_trips) \(.rpc_round_trips)"'
for i in $(seq "$runs"); do
	for x in A B; do conf "$tmp/$x-$i.conf" "$tmp/$x-$i"; done
	for x in A B; do
		measure $x policy-user "$P" --user alice -- "$tmp/build-$x/autoenroll" policy --json -c "$tmp/$x-$i.conf"
	done
	for x in A B; do
		measure $x policy-machine "$P" --machine -- "$tmp/build-$x/autoenroll" policy --machine --json -c "$tmp/$x-$i.conf"
	done
	for x in A B; do
		measure $x enroll - --user alice -- "$tmp/build-$x/autoenroll" enroll -c "$tmp/$x-$i.conf" --template LabUser
	done
	for x in A B; do
		measure $x first "$J" --machine -- env AE_JOURNAL_SOCKET=- "$tmp/build-$x/autoenroll-machine" --json -c "$tmp/$x-$i.conf"
	done
	for x in A B; do
		measure $x cached "$J" --machine -- env AE_JOURNAL_SOCKET=- "$tmp/build-$x/autoenroll-machine" --json -c "$tmp/$x-$i.conf"
	done
done

if [ -z "$lab_was_up" ]; then
	"$labctl" down >/dev/null 2>&1 8>&- || true
fi
exec 8>&- # the lock

# The table.
col() { # X KEY FIELD -> median of the field
	cut -d' ' -f"$3" "$tmp/res/$1.$2" | grep -v '^-$' | median
}
diff_ms() { # A B -> "+12 (+3%)"
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-") { print "-"; exit }
		d = b - a; printf "%+d", d; if (a > 0) printf " (%+.0f%%)", 100 * d / a; printf "\n" }'
}
diff_n() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%+d\n", b - a }'; }
echo
echo "before (A): ${label[0]}"
echo "after  (B): ${label[1]}"
echo "$runs runs each, A B interleaved; median wall ms (labctl run and process start included), round trips"
printf '%-36s | %-18s | %-18s | %s\n' "" "before (A)" "after (B)" "after - before"
printf '%-36s | %7s %5s %4s | %7s %5s %4s | %13s %5s %4s\n' "" ms LDAP RPC ms LDAP RPC ms LDAP RPC
for m in "policy-user:autoenroll policy (alice)" "policy-machine:autoenroll policy --machine" \
	"enroll:enroll --template LabUser (alice)" "first:machine pulse, first" \
	"cached:machine pulse, nothing to do"; do
	key=${m%%:*} name=${m#*:}
	read -r am al ar <<<"$(col A "$key" 1) $(col A "$key" 2) $(col A "$key" 3)"
	read -r bm bl br <<<"$(col B "$key" 1) $(col B "$key" 2) $(col B "$key" 3)"
	printf '%-36s | %7s %5s %4s | %7s %5s %4s | %13s %5s %4s\n' "$name" "$am" "$al" "$ar" "$bm" "$bl" "$br" \
		"$(diff_ms "$am" "$bm")" "$(diff_n "$al" "$bl")" "$(diff_n "$ar" "$br")"
done
echo "certificates a first machine pulse enrolled (median): before $(median <"$tmp/res/A.enrolled" 2>/dev/null), after $(median <"$tmp/res/B.enrolled" 2>/dev/null)"
for x in A B; do
	for f in "$tmp"/res/$x.*.fail; do
		[ -e "$f" ] || continue
		k=${f#"$tmp/res/$x."}
		echo "note: $x ${k%.fail}: $(wc -l <"$f") of $runs runs exited with an error (their times are in the medians)"
	done
done
