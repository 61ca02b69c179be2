#!/bin/sh
# long.sh - the long fuzzing run (CI keeps run-fuzzers.sh's short ones):
# every target for at least ${AE_FUZZ_CPU_MINUTES:-10} CPU-minutes, what
# it finds merged into the shipped corpora, and a table.  Builds nothing:
# give it the directory holding the binaries of a fuzzing build, e.g.
#   mkdir build-fuzz && cd build-fuzz && ../configure CC=clang --enable-fuzzing && make fuzz-targets
#   nice -n 10 ../tests/fuzz/long.sh tests/fuzz [TARGET...]
#
# Each target runs as ${AE_FUZZ_WORKERS:-2} libFuzzer processes at once
# (one a core) over one scratch copy of its corpus, each for its share of
# the CPU time left (-max_total_time), in rounds until the CPU time of
# the processes (time(1): user + system) reaches the budget, since a
# shared or niced machine gives less CPU than wall time.  Then
# `-merge=1 tests/fuzz/corpus/<t> scratch` adds to the shipped corpus
# only the inputs that add coverage (AE_FUZZ_MERGE=0: no merge), the
# smallest first and no corpus past 200 files.
#
# The table: target, CPU-minutes used (user + system time of its
# processes), executions (all workers), exec/s (executions per CPU-second:
# one libFuzzer process's rate), cov (the highest "cov:" of the workers'
# final stats lines: edges covered), crashes (reproducers left: crash-,
# leak-, timeout-, oom-), new (inputs merged into the shipped corpus;
# "K/N": N found, the K smallest merged, as a corpus holds at most 200).
# Reproducers and logs stay in the scratch directory, whose path is
# printed; it is removed when nothing crashed.  Exit status 1 on a crash.

set -u

bindir=${1:-}
if [ -z "$bindir" ] || [ ! -d "$bindir" ]; then
	echo "usage: $0 DIR-WITH-FUZZ-BINARIES [TARGET...]" >&2
	exit 2
fi
shift
here=$(cd "$(dirname "$0")" && pwd)
minutes=${AE_FUZZ_CPU_MINUTES:-10}
workers=${AE_FUZZ_WORKERS:-2}
merge=${AE_FUZZ_MERGE:-1}
max_files=200
# The targets: run-fuzzers.sh's list, unless named on the command line.
targets=$(sed -n 's/^targets="\(\$targets \)\{0,1\}\([^"]*\)"$/\2/p' "$here/run-fuzzers.sh" | tr '\n' ' ')
[ $# -gt 0 ] && targets="$*"
budget=$(awk -v m="$minutes" 'BEGIN { printf "%.2f", m * 60 }')
work=$(mktemp -d "${TMPDIR:-/tmp}/ae-fuzz-long.XXXXXX") || exit 1

# CPU time of each worker (user + system seconds) by time(1) when there
# is one, else its wall time (max_total_time) is counted.
timer=
[ -x /usr/bin/time ] && timer=/usr/bin/time

echo "# $minutes CPU-minutes a target, $workers workers; scratch $work"
printf '%-20s %8s %12s %9s %7s %8s %4s\n' target cpu-min execs exec/s cov crashes new >"$work/table"
failed=0
for t in $targets; do
	bin=$bindir/$t
	name=${t#fuzz-}
	if [ ! -x "$bin" ]; then
		echo "# $t: $bin not found (configure with --enable-fuzzing)" >&2
		printf '%-20s %8s %12s %9s %7s %8s %4s\n' "$t" - - - - missing - >>"$work/table"
		failed=1
		continue
	fi
	corpus=$work/$t-corpus
	art=$work/$t-artifacts
	mkdir -p "$corpus" "$art"
	cp "$here/corpus/$name/"* "$corpus/" 2>/dev/null
	# Rounds until the workers have had the CPU time asked for: on a
	# loaded machine (nice) wall time gives less.  Without time(1), one
	# round of wall time.
	cpu=0
	round=0
	while awk -v c="$cpu" -v b="$budget" 'BEGIN { exit !(c < b) }'; do
		left=$(awk -v c="$cpu" -v b="$budget" -v w="$workers" 'BEGIN { s = (b - c) / w; printf "%d", s < 1 ? 1 : (s == int(s) ? s : int(s) + 1) }')
		w=0
		while [ $w -lt "$workers" ]; do
			id=$round.$w
			if [ -n "$timer" ]; then
				set -- "$timer" -f '%U %S' -o "$work/$t.$id.cpu"
			else
				echo "$left 0" >"$work/$t.$id.cpu"
				set --
			fi
			"$@" "$bin" -max_total_time="$left" -timeout=60 -print_final_stats=1 \
				-artifact_prefix="$art/" "$corpus" >"$work/$t.$id.log" 2>&1 &
			w=$((w + 1))
		done
		wait
		cpu=$(cat "$work/$t".*.cpu | awk 'NF == 2 && $1 ~ /^[0-9.]+$/ { s += $1 + $2 } END { printf "%.2f", s }')
		round=$((round + 1))
		# A crash ends its worker: no more rounds.
		if [ -z "$timer" ] || [ -n "$(find "$art" -type f -name '*-*' | head -n 1)" ]; then
			break
		fi
	done
	execs=$(cat "$work/$t".*.log | sed -n 's/^stat::number_of_executed_units: *//p' | awk '{ s += $1 } END { print s + 0 }')
	cov=$(for l in "$work/$t".*.log; do grep -o 'cov: [0-9]*' "$l" | tail -n 1; done |
		awk '$2 > m { m = $2 } END { print m + 0 }')
	crashes=$(find "$art" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
	new=-
	if [ "$merge" = 1 ] && [ "$crashes" -eq 0 ]; then
		# Into a copy first, then the new files to the shipped corpus:
		# all of them, or the smallest up to the cap.
		mkdir -p "$work/$t-merged" "$here/corpus/$name"
		cp "$here/corpus/$name/"* "$work/$t-merged/" 2>/dev/null
		"$bin" -merge=1 -timeout=60 "$work/$t-merged" "$corpus" >"$work/$t.merge.log" 2>&1
		had=$(ls "$here/corpus/$name" | wc -l)
		room=$((max_files - had))
		[ $room -lt 0 ] && room=0
		found=0
		added=0
		for f in $(ls -S -r "$work/$t-merged"); do
			[ -e "$here/corpus/$name/$f" ] && continue
			found=$((found + 1))
			if [ $added -lt $room ]; then
				cp "$work/$t-merged/$f" "$here/corpus/$name/$f"
				added=$((added + 1))
			fi
		done
		new=$added
		if [ $found -gt $added ]; then
			echo "# $t: $found inputs add coverage, the $added smallest merged (a corpus holds at most $max_files)" >&2
			new="$added/$found"
		fi
	fi
	awk -v t="$t" -v cpu="$cpu" -v e="$execs" -v cov="$cov" -v cr="$crashes" -v n="$new" 'BEGIN {
		printf "%-20s %8.2f %12d %9d %7d %8d %4s\n", t, cpu / 60, e, (cpu > 0 ? e / cpu : 0), cov, cr, n }' >>"$work/table"
	if [ "$crashes" -gt 0 ]; then
		echo "# $t: $crashes reproducer(s) in $art/" >&2
		grep -h -E 'ERROR|SUMMARY|runtime error' "$work/$t".*.log | head -n 5 | sed 's/^/# /' >&2
		failed=1
	fi
done
cat "$work/table"
if [ $failed -eq 0 ]; then
	rm -rf "$work"
else
	echo "# logs and reproducers kept in $work"
fi
exit $failed
