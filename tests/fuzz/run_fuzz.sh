#!/usr/bin/env bash
# Runs every libFuzzer target of tests/fuzz for SECONDS each, one after the
# other and single-process (the machine is shared), each on a copy of its
# seed corpus under BUILD/fuzz/run/NAME/ (the tree's corpus is never
# written). Prints, in this shape (CI parses it):
#   PASS fuzz_NAME (N executions in S s)
#   FAIL fuzz_NAME: what libFuzzer reported, first lines
#     logs: BUILD/fuzz/run/NAME
#   N passed, N failed
# Any crash, leak, timeout, out-of-memory or sanitizer report is a FAIL; the
# input that caused it is in the logs folder (crash-*, leak-*, timeout-*,
# oom-*): BUILD/fuzz/fuzz_NAME that-file reproduces it.
#
# usage: tests/fuzz/run_fuzz.sh BUILD SECONDS
# FUZZ_ONLY=regex limits the run to matching target names; FUZZ_EXTRA_ARGS
# adds libFuzzer options (e.g. -runs=10000000).
set -u

if [ $# -ne 2 ] || ! [[ $2 =~ ^[0-9]+$ ]]; then
	echo "usage: $0 BUILD SECONDS" >&2
	exit 2
fi
build=$1
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)

passed=0
failed=0
for src in "$here"/fuzz_*.c; do
	[ -e "$src" ] || continue
	name=$(basename "$src" .c)
	if [ -n "${FUZZ_ONLY:-}" ] && ! [[ $name =~ $FUZZ_ONLY ]]; then
		continue
	fi
	bin=$build/fuzz/$name
	dir=$build/fuzz/run/${name#fuzz_}
	rm -rf "$dir"
	mkdir -p "$dir/corpus"
	if [ ! -x "$bin" ]; then
		echo "FAIL $name: not built ($bin is missing; make fuzz-build)"
		echo "  logs: $dir"
		failed=$((failed + 1))
		continue
	fi
	seeds=$here/corpus/${name#fuzz_}
	if [ -d "$seeds" ]; then
		cp -R "$seeds/." "$dir/corpus/"
	fi
	start=$(date +%s)
	# shellcheck disable=SC2086 # FUZZ_EXTRA_ARGS is a list of options
	"$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$dir/" ${FUZZ_EXTRA_ARGS:-} "$dir/corpus" >"$dir/log" 2>&1
	rc=$?
	end=$(date +%s)

	execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9][0-9]*\).*/\1/p' "$dir/log" | tail -n 1)
	secs=$(sed -n 's/^Done [0-9]* runs in \([0-9][0-9]*\) second.*/\1/p' "$dir/log" | tail -n 1)
	[ -n "$secs" ] || secs=$((end - start))
	artifacts=$(find "$dir" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
		-o -name 'oom-*' -o -name 'slow-unit-*' \) | head -n 1)
	# What the sanitizers and libFuzzer say when something went wrong.
	report=$(grep -E 'ERROR: |runtime error:|fuzz invariant failed|SUMMARY: |ALARM: |WARNING: .*Sanitizer' \
		"$dir/log" | sed 's/^==[0-9]*==//' | head -n 3 |
		awk 'NR > 1 { printf " | " } { printf "%s", $0 }')

	if [ "$rc" -eq 0 ] && [ -z "$artifacts" ] && [ -z "$report" ] && [ -n "$execs" ]; then
		echo "PASS $name ($execs executions in $secs s)"
		passed=$((passed + 1))
	else
		[ -n "$report" ] || report="exit status $rc$([ -n "$execs" ] || echo ', no final stats')"
		echo "FAIL $name: $report"
		echo "  logs: $dir"
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
