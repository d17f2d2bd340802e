#!/usr/bin/env bash
# Runs the libFuzzer targets that make fuzz built in $BUILD/fuzz/, one at a
# time, each for FUZZ_TIME seconds (or FUZZ_RUNS executions, whichever
# comes first), at nice 10: the machine is shared.
#
#   BUILD=build-fuzz FUZZ_TIME=60 hack/fuzz.sh [TARGET...]
#
# Each target starts from its committed seeds (tests/fuzz/corpus/<target>),
# its regressions (tests/fuzz/regressions/<target>) and what earlier runs
# found (kept in $BUILD/fuzz/corpus/<target>, never committed), with its
# dictionary when tests/fuzz/dict has one. A crash, leak, timeout or
# out-of-memory leaves its input in $BUILD/fuzz/artifacts/<target>/ and
# fails the run. Prints per target: executions, executions per second,
# coverage (cov: edges, ft: features) and crashes.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-fuzz}
FUZZ_TIME=${FUZZ_TIME:-60}
FUZZ_RUNS=${FUZZ_RUNS:-}
FUZZ_RSS_MB=${FUZZ_RSS_MB:-2048}
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-30}

# The largest input worth trying per target: about the largest real input
# of its kind, kept small where a larger one only costs time.
max_len() {
  case $1 in
    fuzz_image_load) echo 131072 ;;
    fuzz_image_meta) echo 65536 ;;
    fuzz_registry|fuzz_kube_watch) echo 16384 ;;
    fuzz_kubeconfig|fuzz_intake|fuzz_replicate|fuzz_openai|fuzz_gemini) echo 16384 ;;
    fuzz_kube_status|fuzz_s3_error) echo 8192 ;;
    fuzz_redis_url|fuzz_s3_url) echo 2048 ;;
    fuzz_api) echo 4096 ;;
    *) echo 16384 ;;
  esac
}

# JSON readers share one dictionary, YAML readers another.
dict_for() {
  local t=$1 d=tests/fuzz/dict
  if [ -f "$d/$t.dict" ]; then echo "$d/$t.dict"; return; fi
  case $t in
    fuzz_registry|fuzz_kubeconfig) echo "$d/yaml.dict" ;;
    fuzz_intake|fuzz_kube_watch|fuzz_kube_status|fuzz_replicate|fuzz_openai|fuzz_gemini)
      echo "$d/json.dict" ;;
  esac
}

# ASan fills the first 4 KiB of every allocation and keeps 256 MiB of freed
# memory in quarantine; libyaml allocates ~64 KiB per parser, so with those
# defaults the YAML targets spent most of their time in memset and page
# faults (833 exec/s against 5000 for fuzz_kubeconfig). A 16 MiB quarantine
# still catches a use after free within one input.
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:quarantine_size_mb=16:max_malloc_fill_size=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for b in "$BUILD"/fuzz/fuzz_*; do [ -x "$b" ] && targets+=("$(basename "$b")"); done
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no targets in $BUILD/fuzz (run make fuzz)" >&2
  exit 1
fi

printf '%-18s %12s %9s %7s %8s %8s\n' target executions exec/s cov ft crashes
failed=()
for t in "${targets[@]}"; do
  bin=$BUILD/fuzz/$t
  if [ ! -x "$bin" ]; then echo "fuzz: no target $bin" >&2; failed+=("$t"); continue; fi
  work=$BUILD/fuzz/corpus/$t; art=$BUILD/fuzz/artifacts/$t
  mkdir -p "$work" "$art"
  log=$BUILD/fuzz/$t.log
  args=(-max_total_time="$FUZZ_TIME" -max_len="$(max_len "$t")" -rss_limit_mb="$FUZZ_RSS_MB"
        -timeout="$FUZZ_TIMEOUT" -print_final_stats=1 -artifact_prefix="$art/")
  [ -n "$FUZZ_RUNS" ] && args+=(-runs="$FUZZ_RUNS")
  dict=$(dict_for "$t")
  [ -n "$dict" ] && args+=(-dict="$dict")
  dirs=("$work" "tests/fuzz/corpus/$t")
  [ -d "tests/fuzz/regressions/$t" ] && dirs+=("tests/fuzz/regressions/$t")
  before=$(find "$art" -type f | wc -l)
  nice -n 10 "$bin" "${args[@]}" "${dirs[@]}" </dev/null >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [ -z "$execs" ] && execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  crashes=$(( $(find "$art" -type f | wc -l) - before ))
  [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ] && crashes=1
  printf '%-18s %12s %9s %7s %8s %8s\n' "$t" "${execs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "$crashes"
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)|^artifact_prefix|Test unit written' "$log" | head -8 | sed 's/^/    /'
    echo "    (log: $log; inputs: $art/)"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: no crash in ${#targets[@]} target(s)"
