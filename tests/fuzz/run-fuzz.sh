#!/usr/bin/env bash
# run-fuzz.sh FUZZER SEEDS_DIR SECONDS: runs a libFuzzer target for a bounded time over a scratch copy
# of its seed corpus (the seeds in the repo stay as they are). Fails on any crash, leak or sanitizer report.
set -euo pipefail
fuzzer=$1 seeds=$2 secs=${VIGIL_FUZZ_SECONDS:-$3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
[ -d "$seeds" ] && cp -r "$seeds"/. "$work/corpus/" 2>/dev/null || true
cd "$work"
"$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 corpus 2>fuzz.log || {
  tail -60 fuzz.log; exit 1; }
grep -E '^(stat::number_of_executed_units|stat::new_units_added|#[0-9]+.*DONE)' fuzz.log || true
echo "fuzz: $(basename "$fuzzer") ran ${secs}s clean"
