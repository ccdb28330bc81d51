#!/usr/bin/env bash
# Runs every test suite and prints one summary line for CI:
#   N passed, N failed, N skipped
# Each suite prints its own "N passed, N failed[, N skipped]" last line and
# a "FAIL name ..." line per failing test (system tests add "  logs: DIR").
# Each suite's whole output goes to standard output and to
# BUILD/test-logs/NN-suite.log; the failures are listed again at the end,
# so `make test > log 2>&1` keeps everything and the names are easy to find.
# RUN_ALL_SUITES=DIR runs the executables in DIR instead of the project's
# suites (how tests/tools/tool_tests.py checks this script).
set -uo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
logdir=$build/test-logs
rm -rf "$logdir"
mkdir -p "$logdir"
total_pass=0 total_fail=0 total_skip=0 status=0 n=0
failures=()

run_suite() {
	local title=$1
	shift
	n=$((n + 1))
	local log
	log=$logdir/$(printf '%02d' "$n")-$(printf '%s' "$title" | tr -cs 'A-Za-z0-9' '-' | cut -c1-40 | sed 's/-$//').log
	echo "== $title"
	# tee to our own standard output: never /dev/stderr, which reopens a
	# redirected file and truncates it.
	"$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	local out
	out=$(tail -n 1 "$log")
	if [[ $out =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)?$ ]]; then
		total_pass=$((total_pass + BASH_REMATCH[1]))
		total_fail=$((total_fail + BASH_REMATCH[2]))
		total_skip=$((total_skip + ${BASH_REMATCH[4]:-0}))
	else
		echo "run-all: $title ended without a summary line (exit status $rc): counted as one failure"
		total_fail=$((total_fail + 1))
		failures+=("$title: ended without a summary line (exit status $rc); output in $log")
	fi
	# Each failing test, with its own log folder when the suite names one.
	local line name="" logs
	while IFS= read -r line; do
		if [[ $line =~ ^FAIL\ (.*)$ ]]; then
			[ -n "$name" ] && failures+=("$title: $name; output in $log")
			name=${BASH_REMATCH[1]}
		elif [[ -n $name && $line =~ ^\ \ logs:\ (.*)$ ]]; then
			logs=${BASH_REMATCH[1]}
			failures+=("$title: $name; logs: $logs")
			name=""
		fi
	done <"$log"
	[ -n "$name" ] && failures+=("$title: $name; output in $log")
	[ "$rc" -eq 0 ] || status=1
}

if [ -n "${RUN_ALL_SUITES:-}" ]; then
	for suite in "$RUN_ALL_SUITES"/*; do
		[ -x "$suite" ] && run_suite "$(basename "$suite")" "$suite"
	done
else
	run_suite "unit tests (host, ASan+UBSan)" "$build/tests/unit_tests"
	run_suite "tool tests (runner, platform choice, this script)" env BUILD="$build" python3 tests/tools/tool_tests.py
	run_suite "boot tests (bochs, QEMU, OVMF, KVM)" env BUILD="$build" python3 tests/system/boot_tests.py
	run_suite "VM tests (bochs)" env BUILD="$build" python3 tests/system/vm_tests.py
	run_suite "hostile-guest battery (bochs)" env BUILD="$build" python3 tests/system/hostile_tests.py
	run_suite "fuzzed parsers (libFuzzer, ${FUZZ_CI_SECONDS:-15} s each)" tests/fuzz/run_fuzz.sh "$build" "${FUZZ_CI_SECONDS:-15}"
	run_suite "Linux guests (Debian's kernel under hv, bochs)" env BUILD="$build" python3 tests/system/linux_tests.py
	run_suite "network tests (e1000, two bochs hosts through bxhub)" env BUILD="$build" python3 tests/system/net_tests.py
	run_suite "soak tests, short (back and forth, eight VMs, a lossy link)" env BUILD="$build" python3 tests/system/soak_tests.py
	for suite in tests/system/*_suite.sh; do
		[ -e "$suite" ] && run_suite "$(basename "$suite" .sh)" bash "$suite" "$build"
	done
fi

echo "== summary (each suite's output: $logdir/)"
if [ ${#failures[@]} -gt 0 ]; then
	echo "failed:"
	for f in "${failures[@]}"; do
		echo "  FAIL $f"
	done
fi
[ "$total_fail" -eq 0 ] || status=1
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
exit $status
