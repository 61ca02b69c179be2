#!/bin/bash
# run-tests.sh - every test of autoenroll on a fresh Debian 12 machine, as
# root: installs the packages (tests/deps.sh), builds in build/, runs make
# distcheck, builds the Debian package from its tarball, runs make check
# (unit tests, fuzz corpus replay, integration tests against the lab AD,
# the package's among them), runs the unit tests again under ASan and
# UBSan in build-san/, then the lab tests of the helpers, the CLI and the
# PAM module against that build, builds the libFuzzer targets with clang in build-fuzz/ and runs each
# for AE_FUZZ_SECONDS (default 20), stops the lab, and ends with the line
# "N passed, N failed".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)

step() { printf '\n=== %s\n' "$*"; }
die() { echo "run-tests: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

if [ "${AE_SKIP_DEPS:-0}" != 1 ]; then
	step "installing packages"
	[ "$(id -u)" -eq 0 ] || die "run as root (installs packages and starts the lab in a network namespace)"
	"$top/tests/deps.sh" || die "package installation failed"
fi

step "building"
autoreconf -fi >/dev/null || die "autoreconf failed"
mkdir -p build
(cd build && "$top/configure" -q --enable-strict && make -j"$jobs" >/dev/null) || die "build failed"

# make distcheck: the tarball has every file the build needs, it builds
# out of tree and passes its unit tests (the integration tests skip under
# AE_DISTCHECK), and make uninstall removes all make install added.
# Counted below with make check's results.
step "make distcheck"
dist_pass=0 dist_fail=0
if (cd build && make -j"$jobs" distcheck) >build/distcheck.out 2>&1; then
	echo "make distcheck: passed"
	dist_pass=1
else
	echo "make distcheck: FAILED"
	tail -30 build/distcheck.out
	dist_fail=1
fi

# The Debian package, from the tarball (so from the files it ships), once:
# tests/integration/package.sh installs it ($AE_DEB), logs a lab user in
# through it and purges it.  The unit tests ran above (nocheck).
step "Debian package (dpkg-buildpackage -us -uc -b)"
pkg_pass=0 pkg_fail=0
rm -rf build/deb && mkdir -p build/deb
tarball=$(ls build/autoenroll-*.tar.xz 2>/dev/null | tail -1)
[ -n "$tarball" ] || (cd build && make dist >/dev/null 2>&1)
tarball=$(ls build/autoenroll-*.tar.xz 2>/dev/null | tail -1)
t0=$(date +%s)
if [ -n "$tarball" ] && tar -xJf "$tarball" -C build/deb &&
   (cd build/deb/autoenroll-* && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b) >build/deb/build.log 2>&1; then
	AE_DEB=$(ls "$top"/build/deb/autoenroll_*.deb | head -1)
	export AE_DEB
	echo "built $AE_DEB in $(( $(date +%s) - t0 )) s, Installed-Size $(dpkg-deb -f "$AE_DEB" Installed-Size) KiB"
	pkg_pass=1
else
	echo "package build FAILED"
	tail -30 build/deb/build.log 2>/dev/null
	pkg_fail=1
fi

step "make check (unit, fuzz corpus replay, integration against the lab)"
(cd build && make -j1 check) | tee build/check.out
passed=$(sed -n 's/^# PASS: *//p' build/check.out | tail -1)
failed=$(sed -n 's/^# FAIL: *//p' build/check.out | tail -1)
errors=$(sed -n 's/^# ERROR: *//p' build/check.out | tail -1)
skipped=$(sed -n 's/^# SKIP: *//p' build/check.out | tail -1)
passed=${passed:-0}
failed=$(( ${failed:-0} + ${errors:-0} ))
[ -n "$(sed -n 's/^# TOTAL: *//p' build/check.out)" ] || failed=$((failed + 1))
passed=$((passed + dist_pass + pkg_pass))
failed=$((failed + dist_fail + pkg_fail))
if [ "$failed" -gt 0 ]; then
	for f in build/tests/*/*.log; do
		grep -q -E '^(FAIL|ERROR)' "$f" 2>/dev/null && { echo "--- $f"; tail -40 "$f"; }
	done
fi

step "unit tests again under AddressSanitizer and UndefinedBehaviorSanitizer"
# A second build: memory errors, leaks and undefined behaviour fail a test
# (UBSan does not recover).
san_flags="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"
mkdir -p build-san
if (cd build-san && "$top/configure" -q CFLAGS="$san_flags" LDFLAGS="-fsanitize=address,undefined" &&
    make -j"$jobs" >/dev/null); then
	units=$(cd build-san && make -s list-unit-tests)
	(cd build-san && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
		LSAN_OPTIONS=suppressions="$top/tests/lsan.supp" \
		make -j"$jobs" check TESTS="$units") >build-san/check.out 2>&1
	san_pass=$(sed -n 's/^# PASS: *//p' build-san/check.out | tail -1)
	san_fail=$(sed -n 's/^# FAIL: *//p' build-san/check.out | tail -1)
	san_err=$(sed -n 's/^# ERROR: *//p' build-san/check.out | tail -1)
	if [ -z "$(sed -n 's/^# TOTAL: *//p' build-san/check.out)" ]; then
		echo "sanitizer test run did not complete"
		tail -30 build-san/check.out
		failed=$((failed + 1))
	else
		echo "under ASan and UBSan: ${san_pass:-0} passed, $(( ${san_fail:-0} + ${san_err:-0} )) failed"
		passed=$((passed + ${san_pass:-0}))
		failed=$((failed + ${san_fail:-0} + ${san_err:-0}))
		for f in build-san/tests/*/*.log; do
			grep -q -E '^(FAIL|ERROR)' "$f" 2>/dev/null && { echo "--- $f"; tail -40 "$f"; }
		done
	fi
	# The lab tests that run the helpers, the CLI and the PAM module end to
	# end, against the sanitized build (its tests/bin, its PAM module): a
	# sanitizer report fails its test (exit status) and is counted once
	# more here from its log file, wherever the output went.  About 5
	# minutes on 2 cores (4 min 46 s, 9 tests, 250 checks, measured on a
	# loaded 2-core machine).
	san_lab="tests/integration/lab-enroll.sh tests/integration/lab-pulse.sh tests/integration/lab-request.sh
		tests/integration/lab-manage.sh tests/integration/lab-ra.sh tests/integration/lab-crl.sh
		tests/integration/lab-ces.sh tests/integration/lab-scep.sh tests/integration/pam-module.sh"
	if [ "$(id -u)" -eq 0 ]; then
		step "lab tests under AddressSanitizer and UndefinedBehaviorSanitizer"
		rm -rf build-san/san-logs && mkdir -p build-san/san-logs && chmod 1777 build-san/san-logs
		t0=$(date +%s)
		(cd build-san && AE_SANITIZED=1 \
			ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:verify_asan_link_order=0:log_path="$top/build-san/san-logs/asan" \
			UBSAN_OPTIONS=print_stacktrace=1:log_path="$top/build-san/san-logs/ubsan" \
			LSAN_OPTIONS=suppressions="$top/tests/lsan.supp" \
			make -j1 check TESTS="$(echo $san_lab)") >build-san/check-lab.out 2>&1
		lab_pass=$(sed -n 's/^# PASS: *//p' build-san/check-lab.out | tail -1)
		lab_f=$(sed -n 's/^# FAIL: *//p' build-san/check-lab.out | tail -1)
		lab_e=$(sed -n 's/^# ERROR: *//p' build-san/check-lab.out | tail -1)
		lab_fail=$(( ${lab_f:-0} + ${lab_e:-0} ))
		reports=$(ls build-san/san-logs | wc -l)
		echo "lab tests under ASan and UBSan: ${lab_pass:-0} passed, $lab_fail failed, $reports sanitizer reports ($(( $(date +%s) - t0 )) s)"
		passed=$((passed + ${lab_pass:-0}))
		failed=$((failed + lab_fail + reports))
		[ -n "$(sed -n 's/^# TOTAL: *//p' build-san/check-lab.out)" ] || failed=$((failed + 1))
		for f in $san_lab; do
			grep -q -E '^(FAIL|ERROR)' "build-san/${f%.sh}.log" 2>/dev/null && { echo "--- build-san/${f%.sh}.log"; tail -40 "build-san/${f%.sh}.log"; }
		done
		for f in build-san/san-logs/*; do [ -e "$f" ] && { echo "--- $f"; head -60 "$f"; }; done
	fi
else
	echo "sanitizer build failed"
	failed=$((failed + 1))
fi

step "fuzzing each target for ${AE_FUZZ_SECONDS:-20} s"
if command -v clang >/dev/null; then
	mkdir -p build-fuzz
	if (cd build-fuzz && "$top/configure" -q CC=clang --enable-fuzzing &&
	    make -j"$jobs" fuzz-targets >/dev/null); then
		"$top/tests/fuzz/run-fuzzers.sh" build-fuzz/tests/fuzz | tee build-fuzz/fuzz.out
		passed=$((passed + $(grep -c '^ok ' build-fuzz/fuzz.out)))
		failed=$((failed + $(grep -c '^not ok ' build-fuzz/fuzz.out)))
	else
		echo "fuzz build failed"
		failed=$((failed + 1))
	fi
else
	echo "clang not installed: fuzzing skipped"
fi

step "stopping the lab"
[ "$(id -u)" -eq 0 ] && "$top/tests/lab/labctl" down >/dev/null 2>&1

echo
echo "${skipped:-0} skipped"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
