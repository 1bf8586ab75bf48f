#!/usr/bin/env bash
# Builds herald's libFuzzer targets (tests/fuzz, docs/fuzzing.md) with clang-14 into
# build/fuzz and runs each in turn, then prints execs, coverage and crashes per target.
#
# Usage: scripts/fuzz.sh [--ci] [--time SECONDS | --runs N] [--jobs N] [--merge] [TARGET…]
#   --time S   run each target S seconds (default 600)
#   --runs N   run each target N inputs instead
#   --jobs N   targets fuzzed at the same time (default 1; each runs one process)
#   --merge    afterwards, merge what the runs found into the committed seed corpus
#              (tests/fuzz/corpus/<target>), minimized; without it the new inputs stay in
#              build/fuzz/corpus/<target>
#   --ci       the bounded CI mode: 10 s per target
#   TARGET…    some targets only (http_request ws_frames …; default: all)
# Exits non-zero if any target crashed, leaked or timed out; the input that did it is
# written to build/fuzz/artifacts/<target>/ (replay: build/fuzz/tests/fuzz/fuzz_<target> FILE).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=600
runs=""
jobs=1
merge=false
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --ci) seconds=10 ;;
    --time) seconds="$2"; shift ;;
    --runs) runs="$2"; shift ;;
    --jobs) jobs="$2"; shift ;;
    --merge) merge=true ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) targets+=("$1") ;;
  esac
  shift
done

build=build/fuzz
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
echo "== build (clang-14, libFuzzer, ASan + UBSan) in $build"
# A unity build (sources compiled in batches) takes 40 % less time; the install check
# (scripts/check-install.sh) compiles every source on its own, so a missing include still fails.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
      -DHERALD_FUZZ=ON -DHERALD_BUILD_TESTS=OFF -DHERALD_INSTALL=OFF -DHERALD_WITH_JWT=ON \
      -DHERALD_WARNINGS_AS_ERRORS=ON -DCMAKE_UNITY_BUILD=ON "${launcher[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)" --target herald_fuzz

if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/*.cpp; do targets+=("$(basename "$f" .cpp)"); done
fi
budget=(-max_total_time="$seconds")
[ -n "$runs" ] && budget=(-runs="$runs")

# One target: fuzz it, writing new inputs to build/fuzz/corpus/<target> (the committed seeds
# are read only), then a line of figures in build/fuzz/logs/<target>.result.
fuzz_one() {
  local t=$1 bin="$build/tests/fuzz/fuzz_$1" log="$build/logs/$1.log"
  local work="$build/corpus/$t" artifacts="$build/artifacts/$t/"
  mkdir -p "$work" "$artifacts" "$build/logs"
  local dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  local status=ok
  # -timeout: an input that takes 10 s is a hang; -rss_limit_mb: one that takes 2 GB a leak.
  "$bin" "${budget[@]}" "${dict[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
         -artifact_prefix="$artifacts" "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1 || status=FAILED
  local execs cov ft  # (a target that fails while loading its corpus prints no "cov:")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
  printf '%-16s %-7s execs %-11s cov %-6s ft %-6s corpus %-6s artifacts %s\n' "$t" "$status" \
         "${execs:-?}" "${cov:-?}" "${ft:-?}" "$(ls "$work" | wc -l)" \
         "$(ls "$artifacts" | wc -l)" >"$build/logs/$t.result"
  if [ "$status" != ok ]; then
    echo "== $t failed: the end of $log" >&2
    tail -40 "$log" >&2
  fi
}

echo "== fuzzing ${targets[*]} (${runs:+$runs runs}${runs:-$seconds s} each, $jobs at a time; built in $SECONDS s)"
running=0
for t in "${targets[@]}"; do
  [ -x "$build/tests/fuzz/fuzz_$t" ] || { echo "fuzz.sh: no target $t" >&2; exit 2; }
  rm -f "$build/logs/$t.result"
  fuzz_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
done
wait

failed=0
for t in "${targets[@]}"; do
  cat "$build/logs/$t.result"
  grep -q ' ok ' "$build/logs/$t.result" || failed=1
  if $merge; then
    "$build/tests/fuzz/fuzz_$t" -merge=1 "tests/fuzz/corpus/$t" "$build/corpus/$t" \
      >"$build/logs/$t.merge.log" 2>&1
  fi
done
exit $failed
