#!/usr/bin/env bash
# The variant benchmark's sources through sharp (npm), side by side with
# bench_variants: same images, same preset and qualities, cache off.
# Usage: hack/bench-sharp.sh DIR EASEL_BENCH_OUTPUT_FILE
# Installs sharp into tests/bench/node_modules on first use (npm registry).
# Prints sharp's figures and the ratios the image issue sets targets for.
set -uo pipefail
cd "$(dirname "$0")/.."
dir=$1 ours=$2
command -v node >/dev/null && command -v npm >/dev/null || { echo "node/npm not installed"; exit 1; }
if [ ! -d tests/bench/node_modules/sharp ]; then
  (cd tests/bench && npm install --no-audit --no-fund --no-package-lock --loglevel=error >/dev/null 2>&1) \
    || { echo "npm install sharp failed"; exit 1; }
fi
theirs=$(node tests/bench/sharp_variants.js "$dir") || exit 1
echo "$theirs"
get() { sed -n "s/^BENCH $1=//p" <<<"$2"; }
e_ips=$(get variants_images_per_s "$(cat "$ours")"); s_ips=$(get sharp_images_per_s "$theirs")
e_rss=$(get variants_peak_rss_mb "$(cat "$ours")"); s_rss=$(get sharp_peak_rss_mb "$theirs")
e_out=$(get variants_out_bytes "$(cat "$ours")"); s_out=$(get sharp_out_bytes "$theirs")
python3 - "$e_ips" "$s_ips" "$e_rss" "$s_rss" "$e_out" "$s_out" <<'PY'
import sys
e_ips, s_ips, e_rss, s_rss = map(float, sys.argv[1:5])
e_out = [int(x) for x in sys.argv[5].split(",")]
s_out = [int(x) for x in sys.argv[6].split(",")]
speed = e_ips / s_ips
mem = e_rss / s_rss
print(f"easel vs sharp: {speed:.2f}x the images/s, {mem:.2f} of the peak RSS")
names = ["normal", "hq", "thumb"]
diffs = [(a - b) / b * 100 for a, b in zip(e_out, s_out)]
print("output bytes, easel vs sharp: " + ", ".join(f"{n} {d:+.1f}%" for n, d in zip(names, diffs)))
print(f"BENCH vs_sharp_speed_ratio={speed:.3f}")
print(f"BENCH vs_sharp_rss_ratio={mem:.3f}")
print(f"{'PASS' if speed >= 1.3 else 'MISS'} speed target >= 1.3x sharp")
print(f"{'PASS' if mem <= 1/3 else 'MISS'} memory target <= 1/3 of sharp's peak RSS")
print(f"{'PASS' if max(abs(d) for d in diffs) <= 5 else 'MISS'} output bytes within 5% of sharp's")
PY
