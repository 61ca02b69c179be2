#!/bin/bash
# no-test-hooks.sh - the installed programs carry no test hook: "make
# install" into a scratch directory, and no installed file names an
# AE_TEST_ variable (crash points, a shifted clock, forced RPC fragments are
# built only into tests/bin/ and the test libraries: core/testhooks.h).
# The programs under tests/bin do name them, which shows the check can see
# a hook where there is one.
. "$(dirname "$0")/lib.sh"
dest=$TEST_TMP/dest
make -s -C "$top_builddir" install DESTDIR="$dest" >"$TEST_TMP/install.log" 2>&1
ok $? "make install DESTDIR=..." || diag "$(tail -20 "$TEST_TMP/install.log")"
n=0
hooked=""
while IFS= read -r -d '' f; do
	n=$((n + 1))
	strings -a "$f" | grep -q "AE_TEST_" && hooked="$hooked ${f#"$dest"}"
done < <(find "$dest" -type f \( -perm -u+x -o -name '*.so' \) -print0)
[ "$n" -ge 5 ]; ok $? "installed programs and modules found ($n)"
[ -z "$hooked" ]; ok $? "no installed program names an AE_TEST_ variable${hooked:+:$hooked}"
for p in autoenroll autoenroll-machine autoenroll-user; do
	strings -a "$AE_BIN/$p" | grep -q "AE_TEST_"
	ok $? "the test build tests/bin/$p has the hooks"
done
done_testing
