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
ours=$(cat "$ours")
args=()
for k in images_per_s cpu_ms_per_image peak_rss_mb 2inflight_images_per_s 2inflight_peak_rss_mb \
         webp_ms decode_ms out_bytes png_images_per_s png_cpu_ms_per_image; do
  args+=("$(get "variants_$k" "$ours")")
done
for k in images_per_s p50_ms cpu_ms_per_image peak_rss_mb 2inflight_images_per_s \
         2inflight_peak_rss_mb webp_ms out_bytes png_images_per_s png_cpu_ms_per_image; do
  args+=("$(get "sharp_$k" "$theirs")")
done
python3 - "${args[@]}" <<'PY'
import sys
(e_ips, e_cpu, e_rss, e_ips2, e_rss2, e_webp, e_dec) = map(float, sys.argv[1:8])
e_out = [int(x) for x in sys.argv[8].split(",")]
e_png_ips, e_png_cpu = map(float, sys.argv[9:11])
(s_ips, s_p50, s_cpu, s_rss, s_ips2, s_rss2, s_webp) = map(float, sys.argv[11:18])
s_out = [int(x) for x in sys.argv[18].split(",")]
s_png_ips, s_png_cpu = map(float, sys.argv[19:21])
speed, speed2 = e_ips / s_ips, e_ips2 / s_ips2
mem = e_rss / s_rss
print(f"easel vs sharp, one image at a time: {speed:.2f}x the images/s, "
      f"{mem:.2f} of the peak RSS, {e_cpu / s_cpu:.2f} of the CPU per image")
print(f"easel vs sharp, two images in flight: {speed2:.2f}x the images/s, "
      f"{e_rss2 / s_rss2:.2f} of the peak RSS")
print(f"easel vs sharp on 1024 px PNG provider outputs, one at a time: "
      f"{e_png_ips / s_png_ips:.2f}x the images/s, {e_png_cpu / s_png_cpu:.2f} of the CPU per image")
names = ["normal", "hq", "thumb"]
diffs = [(a - b) / b * 100 for a, b in zip(e_out, s_out)]
print("output bytes, easel vs sharp: " + ", ".join(f"{n} {d:+.1f}%" for n, d in zip(names, diffs)))
# What 1.3x would take. One image at a time, a job cannot finish before its
# decode and then its largest encode, both single-threaded; with the cores
# kept busy, images/s is cores / CPU per image.
need_lat, need_cpu = s_p50 / 1.3, s_cpu / 1.3
print(f"1.3x sharp needs a p50 of <= {need_lat:.0f} ms one image at a time; the decode "
      f"({e_dec:.0f} ms) and the WebP encode ({e_webp:.0f} ms) alone take {e_dec + e_webp:.0f} ms")
print(f"1.3x sharp needs <= {need_cpu:.0f} ms CPU per image with the cores busy; the WebP "
      f"encode alone takes {e_webp:.0f} ms ({e_webp / e_cpu * 100:.0f}% of easel's "
      f"{e_cpu:.0f} ms; sharp's own takes {s_webp:.0f} ms)")
print(f"BENCH vs_sharp_speed_ratio={speed:.3f}")
print(f"BENCH vs_sharp_speed_ratio_2inflight={speed2:.3f}")
print(f"BENCH vs_sharp_rss_ratio={mem:.3f}")
print(f"BENCH vs_sharp_png_speed_ratio={e_png_ips / s_png_ips:.3f}")
print(f"{'PASS' if speed >= 1.3 else 'MISS'} speed target >= 1.3x sharp")
print(f"{'PASS' if mem <= 1/3 else 'MISS'} memory target <= 1/3 of sharp's peak RSS")
print(f"{'PASS' if max(abs(d) for d in diffs) <= 5 else 'MISS'} output bytes within 5% of sharp's")
PY
