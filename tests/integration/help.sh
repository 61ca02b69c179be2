#!/bin/bash
# help.sh - every command's --help lists every option it takes: the long
# option tables of the sources (getopt_long) against what --help prints.
# An option is listed as --NAME, or as its short option -X where it has
# one.  --help itself is how the text is reached and need not be listed.
. "$(dirname "$0")/lib.sh"
[ -x "$AUTOENROLL" ] || skip_all "autoenroll is not built"
src=$top_srcdir/src

# options FILE FUNCTION [machine|user]: "name val" for each entry of the
# option table in FUNCTION (its first "struct option" table), the
# AE_HELPER_MACHINE branches taken for the given helper.
options() {
	awk -v fn="$2" -v helper="${3:-}" '
		index($0, fn "(") == 1 { infn = 1 }
		infn && /struct option/ { intab = 1; next }
		!intab { next }
		/^#ifdef AE_HELPER_MACHINE/ { skip = (helper != "machine"); next }
		/^#else/ { skip = !skip; next }
		/^#endif/ { skip = 0; next }
		/\{ NULL/ { exit }
		skip { next }
		match($0, /\{ "[a-z0-9-]+", [a-z_]+, NULL, '"'"'.'"'"' \}/) {
			e = substr($0, RSTART, RLENGTH)
			split(e, f, "\"")
			val = substr(e, length(e) - 3, 1)
			print f[2], val
		}' "$1"
}

# check WHAT FILE FUNCTION HELPER -- COMMAND...: the options against COMMAND's output
check() {
	local what=$1 file=$2 fn=$3 helper=$4 missing="" n=0 name val
	shift 5
	"$@" >"$TEST_TMP/help" 2>&1
	local rc=$?
	while read -r name val; do
		n=$((n + 1))
		[ "$name" = help ] && continue
		grep -Eq -- "(^|[][ ,|])--$name([][ ,|=]|$)" "$TEST_TMP/help" && continue
		grep -Eq -- "(^|[][ ,|])-$val([][ ,|]|$)" "$TEST_TMP/help" && continue
		missing="$missing --$name"
	done < <(options "$src/$file" "$fn" "$helper")
	[ $rc -eq 0 ] && [ "$n" -gt 1 ] && [ -z "$missing" ]
	ok $? "$what --help lists its $n options" || diag "rc=$rc, not listed:$missing" "$(cat "$TEST_TMP/help")"
}

check "autoenroll" autoenroll.c main "" -- "$AUTOENROLL" --help
for cmd in policy request enroll retrieve status pulse config diagnose gpo; do
	file=cmd-$cmd.c
	[ $cmd = retrieve ] && file=cmd-enroll.c
	check "autoenroll $cmd" $file ae_cmd_$cmd "" -- "$AUTOENROLL" $cmd --help
done
check "autoenroll-machine" helper.c main machine -- "$AE_BIN/autoenroll-machine" --help
check "autoenroll-user" helper.c main user -- "$AE_BIN/autoenroll-user" --help
[ -x "$AE_BIN/autoenroll-notify" ] && check "autoenroll-notify" notify.c main "" -- "$AE_BIN/autoenroll-notify" --help

# The check itself: an option missing from a usage text is caught.
printf 'int\nfoo(void)\n{\n\tstatic const struct option opts[] = {\n\t\t{ "zzz-hidden", no_argument, NULL, '"'"'Z'"'"' },\n\t\t{ NULL, 0, NULL, 0 },\n' >"$TEST_TMP/fake.c"
[ "$(options "$TEST_TMP/fake.c" foo)" = "zzz-hidden Z" ]; ok $? "the option tables are read"

done_testing
