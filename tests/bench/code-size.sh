#!/bin/bash
# code-size.sh - the size of the code at two revisions, read from git (no
# build, no lab): lines of C (.c and .h) in the library and program folders
# (core/ net/ transport/ policy/ pkcs11/ src/ pam/, those that exist; before
# the folders of issue 12 core/ held everything), the lines of the files
# that held the enrollment transaction three times (core/engine.c,
# src/cmd-enroll.c, src/cmd-request.c), the 10 largest functions, and what
# the single transaction changed: "git diff --stat" over the transaction's
# files (core/engine.c src/cmd-enroll.c src/cmd-request.c core/txn.c
# core/local.c, or the paths in $AE_BENCH_TXN_FILES).
#   tests/bench/code-size.sh BEFORE [AFTER]    (AFTER: default HEAD)
# A function, in our style: a line starting in column 0 with an identifier
# and "(" right after a return-type line; its size is the lines from that
# line to the "}" in column 0 that closes the "{" in column 0.  Prints the
# figures; asserts nothing.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 BEFORE [AFTER]   (git revisions; AFTER defaults to HEAD)" >&2; exit 2; }
dirs="core net transport policy pkcs11 src pam"
files3="core/engine.c src/cmd-enroll.c src/cmd-request.c"
txn=${AE_BENCH_TXN_FILES:-core/engine.c src/cmd-enroll.c src/cmd-request.c core/txn.c core/local.c}
g() { git -C "$top" "$@"; }
rev=() name=()
for r in "$1" "${2:-HEAD}"; do
	h=$(g rev-parse --verify -q "$r^{commit}") || { echo "no such revision: $r" >&2; exit 1; }
	rev+=("$h")
	name+=("$(g rev-parse --short "$h")")
done

# "path lines" for each C file of the folders at REV
c_files() { # REV
	g ls-tree -r --name-only "$1" -- $dirs | grep -E '\.[ch]$' || true
}
lines_of() { # REV PATH -> lines (0 when absent)
	if g cat-file -e "$1:$2" 2>/dev/null; then g show "$1:$2" | wc -l; else echo 0; fi
}
# "lines name path" for every function of REV's .c files
functions() { # REV
	local f
	for f in $(c_files "$1" | grep '\.c$'); do
		g show "$1:$f" | awk -v file="$f" '
			/^[A-Za-z_][A-Za-z0-9_]*[ \t]*\(/ && prev ~ /^[A-Za-z_]/ && prev !~ /[;,{}=]$/ &&
			    prev !~ /^(typedef|return|struct [A-Za-z0-9_]+ \{|enum|union)/ {
				cand = $0; sub(/[ \t]*\(.*/, "", cand); cstart = NR; prev = $0; next
			}
			cand != "" && start == 0 && /;[ \t]*$/ { cand = "" }
			/^\{/ && cand != "" && start == 0 { start = cstart; fn = cand; cand = "" }
			/^\}/ && start { print NR - start + 1, fn, file; start = 0 }
			{ prev = $0 }'
	done
}

echo "before: $(g log -1 --format='%h %ad %<(70,trunc)%s' --date=short "${rev[0]}")"
echo "after:  $(g log -1 --format='%h %ad %<(70,trunc)%s' --date=short "${rev[1]}")"
echo
echo "Lines of C (.c and .h) in the library and program folders:"
printf '  %-12s %14s %14s %8s\n' folder "${name[0]} (files)" "${name[1]} (files)" change
tot=(0 0) nf=(0 0)
for d in $dirs; do
	out=()
	for k in 0 1; do
		n=0 c=0
		for f in $(g ls-tree -r --name-only "${rev[$k]}" -- "$d" | grep -E '\.[ch]$' || true); do
			n=$((n + $(lines_of "${rev[$k]}" "$f"))); c=$((c + 1))
		done
		out+=("$n ($c)")
		eval "v$k=$n"
		tot[$k]=$((tot[$k] + n)) nf[$k]=$((nf[$k] + c))
	done
	printf '  %-12s %14s %14s %+8d\n' "$d/" "${out[0]}" "${out[1]}" $((v1 - v0))
done
printf '  %-12s %14s %14s %+8d\n' total "${tot[0]} (${nf[0]})" "${tot[1]} (${nf[1]})" $((tot[1] - tot[0]))
echo
echo "The files that held the enrollment transaction three times (lines):"
printf '  %-20s %8s %8s %8s\n' file "${name[0]}" "${name[1]}" change
s0=0 s1=0
for f in $files3; do
	a=$(lines_of "${rev[0]}" "$f") b=$(lines_of "${rev[1]}" "$f")
	s0=$((s0 + a)) s1=$((s1 + b))
	printf '  %-20s %8d %8d %+8d\n' "$f" "$a" "$b" $((b - a))
done
printf '  %-20s %8d %8d %+8d\n' together "$s0" "$s1" $((s1 - s0))
echo
for k in 0 1; do
	functions "${rev[$k]}" | sort -k1,1nr -k2,2 >"${TMPDIR:-/tmp}/ae-code-size.$$.$k"
done
trap 'rm -f "${TMPDIR:-/tmp}"/ae-code-size.$$.*' EXIT
for k in 0 1; do
	f="${TMPDIR:-/tmp}/ae-code-size.$$.$k"
	echo "The 10 largest functions at ${name[$k]} (lines; $(wc -l <"$f") functions," \
	     "$(awk '$1 > 100' "$f" | wc -l) over 100 lines, median $(cut -d' ' -f1 "$f" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')):"
	head -10 "$f" | awk '{ printf "  %5d  %-36s %s\n", $1, $2, $3 }'
done
echo
echo "What the single transaction changed (git diff --stat ${name[0]} ${name[1]} -- $txn):"
g diff --stat=100 "${rev[0]}" "${rev[1]}" -- $txn | sed 's/^/ /'
echo "  ($(g diff --numstat "${rev[0]}" "${rev[1]}" -- $txn | awk '{a += $1; d += $2} END {printf "%d lines added, %d removed, net %+d", a, d, a - d}'))"
