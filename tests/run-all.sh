#!/usr/bin/env bash
# Runs every test suite and prints one summary line for CI:
#   N passed, N failed, N skipped
# Each suite prints its own "N passed, N failed[, N skipped]" last line.
set -uo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
total_pass=0 total_fail=0 total_skip=0 status=0

run_suite() {
	local title=$1
	shift
	echo "== $title"
	local out
	out=$("$@" 2>&1 | tee /dev/stderr | tail -n 1)
	local rc=${PIPESTATUS[0]}
	if [[ $out =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)?$ ]]; then
		total_pass=$((total_pass + BASH_REMATCH[1]))
		total_fail=$((total_fail + BASH_REMATCH[2]))
		total_skip=$((total_skip + ${BASH_REMATCH[4]:-0}))
	else
		echo "run-all: $title ended without a summary line: counted as one failure" >&2
		total_fail=$((total_fail + 1))
	fi
	[ "$rc" -eq 0 ] || status=1
}

run_suite "unit tests (host, ASan+UBSan)" "$build/tests/unit_tests"
run_suite "boot tests (bochs, QEMU, OVMF, KVM)" env BUILD="$build" python3 tests/system/boot_tests.py
run_suite "VM tests (bochs)" env BUILD="$build" python3 tests/system/vm_tests.py
run_suite "network tests (e1000, two bochs hosts through bxhub)" env BUILD="$build" python3 tests/system/net_tests.py
for suite in tests/system/*_suite.sh; do
	[ -e "$suite" ] && run_suite "$(basename "$suite" .sh)" bash "$suite" "$build"
done

[ "$total_fail" -eq 0 ] || status=1
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
exit $status
