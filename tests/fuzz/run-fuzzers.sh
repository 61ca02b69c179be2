#!/bin/sh
# run-fuzzers.sh - runs the libFuzzer targets for a while each and reports
# in TAP.  Builds nothing: give it the directory holding the binaries of a
# fuzzing build, e.g.
#   mkdir /tmp/bf && cd /tmp/bf && /path/to/configure CC=clang --enable-fuzzing && make
#   /path/to/tests/fuzz/run-fuzzers.sh /tmp/bf/tests/fuzz
# Each target runs for ${AE_FUZZ_SECONDS:-20} seconds over a scratch copy of
# its seed corpus (the committed corpus is never modified).  A crash leaves
# its reproducer in the scratch directory, whose path is printed, and makes
# the script exit non-zero.  The long run (CPU-minutes a target, merged
# into the corpora, a table) is long.sh, next to this script.

set -u

bindir=${1:-}
if [ -z "$bindir" ] || [ ! -d "$bindir" ]; then
	echo "usage: $0 DIR-WITH-FUZZ-BINARIES" >&2
	exit 2
fi
seconds=${AE_FUZZ_SECONDS:-20}
here=$(cd "$(dirname "$0")" && pwd)
targets="fuzz-secdesc fuzz-template fuzz-conf fuzz-dns fuzz-ca fuzz-record fuzz-csr fuzz-rpc fuzz-icpr fuzz-issued fuzz-crl fuzz-pcache fuzz-ldap-place fuzz-pinentry fuzz-notify-text fuzz-pam-options fuzz-pam-ccache fuzz-certpair fuzz-wstep fuzz-xcep fuzz-gentime fuzz-scep fuzz-certrep fuzz-regpol fuzz-gpo"
work=$(mktemp -d "${TMPDIR:-/tmp}/ae-fuzz.XXXXXX") || exit 1

targets="$targets fuzz-subject fuzz-store-uri fuzz-keyfile"
targets="$targets fuzz-account fuzz-krb fuzz-notify-dbus fuzz-p11"
set -- $targets
echo "1..$#"
n=0
failed=0
for t in $targets; do
	n=$((n + 1))
	bin=$bindir/$t
	if [ ! -x "$bin" ]; then
		echo "not ok $n - $t: $bin not found (configure with --enable-fuzzing)"
		failed=1
		continue
	fi
	corpus=$work/$t-corpus
	mkdir -p "$corpus" "$work/$t-artifacts"
	cp "$here/corpus/${t#fuzz-}/"* "$corpus/" 2>/dev/null
	log=$work/$t.log
	"$bin" -max_total_time="$seconds" -print_final_stats=1 \
		-artifact_prefix="$work/$t-artifacts/" "$corpus" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	persec=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	if [ $rc -eq 0 ]; then
		echo "ok $n - $t: ${runs:-?} runs in ${seconds}s (${persec:-?}/s), no crash"
	else
		echo "not ok $n - $t: exit $rc after ${runs:-?} runs; log $log, reproducer in $work/$t-artifacts/"
		grep -E 'ERROR|SUMMARY|runtime error' "$log" | head -n 5 | sed 's/^/# /'
		failed=1
	fi
done
if [ $failed -eq 0 ]; then
	rm -rf "$work"
fi
exit $failed
