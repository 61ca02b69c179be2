# lib.sh - shared by the integration tests: TAP output, skipping when the
# lab cannot run here, and running autoenroll inside the lab.
#
# Sourced by tests/integration/*.sh; expects top_srcdir and top_builddir
# (set by make check).

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
LABCTL="$top_srcdir/tests/lab/labctl"
# The programs built for the tests: the installed ones' sources with the
# test hooks (AE_TEST_CRASH_AT, AE_TEST_NOW_OFFSET, AE_TEST_RPC_MAX_FRAG);
# tests/bin is also their helper directory.
AE_BIN="$top_builddir/tests/bin"
AUTOENROLL="$AE_BIN/autoenroll"
tap_n=0
tap_failed=0

ok() { # ok COND-EXIT-STATUS DESCRIPTION
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
		return 1 # so that "ok ... || diag ..." explains failures
	fi
}

diag() { printf '%s\n' "$@" | sed 's/^/# /'; }

done_testing() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
}

skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}

# The lab needs root, network namespaces and Samba.  --no-binary: the test
# does not run autoenroll itself (third-party clients only).
lab_require() {
	[ "$(id -u)" -eq 0 ] || skip_all "the lab needs root (network namespaces)"
	command -v samba >/dev/null 2>&1 || skip_all "samba is not installed (tests/deps.sh installs it)"
	command -v jq >/dev/null 2>&1 || skip_all "jq is not installed"
	[ "${1:-}" = --no-binary ] || [ -x "$AUTOENROLL" ] || skip_all "autoenroll is not built"
	# One lab for all tests, one test at a time: some tests change the lab
	# for a while (firewall rules, extra objects), so make check -jN must
	# not run them side by side.  The lock goes with the process.
	exec 8>"${AE_LAB_DIR:-/tmp/autoenroll-lab}.tests.lock"
	flock 8
	# labctl up is idempotent and locked itself.  It starts daemons: they
	# must not inherit (and so hold forever) the tests' lock.
	if ! "$LABCTL" up >"$TEST_TMP/lab-up.log" 2>&1 8>&-; then
		echo "not ok 1 - labctl up failed"
		sed 's/^/# /' "$TEST_TMP/lab-up.log" | tail -30
		echo "1..1"
		exit 1
	fi
}

# journal_sink: a stand-in journal; events the programs send over the
# native protocol to $SOCK (AE_JOURNAL_SOCKET) land in $EVENTS as JSON
# lines; the sink's pid in $sink.
journal_sink() {
	SOCK=$TEST_TMP/journal.socket
	EVENTS=$TEST_TMP/journal.jsonl
	/usr/bin/python3 "$top_srcdir/tests/integration/journal-sink.py" "$SOCK" "$EVENTS" &
	sink=$!
	for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
}

# softhsm_token LABEL: a fresh SoftHSM2 token LABEL in $TEST_TMP/tokens
# (SOFTHSM2_CONF exported), user PIN 1111 in $TEST_TMP/pin (0600) for
# pin-source=; the module's path in $MODULE.
softhsm_token() {
	MODULE=/usr/lib/softhsm/libsofthsm2.so
	export SOFTHSM2_CONF=$TEST_TMP/softhsm2.conf
	mkdir -p "$TEST_TMP/tokens"
	printf 'directories.tokendir = %s/tokens\n' "$TEST_TMP" >"$SOFTHSM2_CONF"
	softhsm2-util --init-token --free --label "$1" --so-pin 4321 --pin 1111 >/dev/null || return
	printf '1111' >"$TEST_TMP/pin"
	chmod 600 "$TEST_TMP/pin"
}

# share_tmp: $TEST_TMP open to the lab's other users (servers, users)
# for reading and writing, but its own directory and the *.conf files in
# it writable by root alone: root reads a configuration only where nobody
# else can write (StrictModes).
share_tmp() {
	chmod -R a+rwX "$TEST_TMP" && chmod 755 "$TEST_TMP" &&
		find "$TEST_TMP" -maxdepth 1 -name '*.conf' -exec chmod 644 {} +
}

# as_user NAME CMD...: CMD in the lab with NAME's Kerberos credentials
as_user() { local u=$1; shift; "$LABCTL" run --user "$u" -- "$@"; }
as_machine() { "$LABCTL" run --machine -- "$@"; }
in_lab() { "$LABCTL" run -- "$@"; }

# kill_at_exit PID: a daemon the test started, stopped by its PID when the
# test ends.
ae_bg_pids=
kill_at_exit() { ae_bg_pids="$ae_bg_pids $1"; }

# make distcheck (AE_DISTCHECK set): unit tests only.
[ -z "${AE_DISTCHECK:-}" ] || skip_all "integration tests do not run under make distcheck (AE_DISTCHECK)"

TEST_TMP=$(mktemp -d /tmp/ae-itest.XXXXXX)
# shellcheck disable=SC2086
trap '[ -z "$ae_bg_pids" ] || kill $ae_bg_pids 2>/dev/null; rm -rf "$TEST_TMP"' EXIT
