#!/usr/bin/env bash
# pose: body landmarks per second and peak memory, easel's C pipeline
# beside MediaPipe's own wasm build in headless Chromium, on the same
# images (the test set of tests/pose/images.sh with a person in them) in
# the same run, for the lite and the full landmark model:
#   - easel: `easel pose --repeat N` per image (one process, the models
#     loaded once; the time of the detector and the landmark model, their
#     crops included, not the image decode), its peak RSS from getrusage;
#   - MediaPipe, CPU inference (its XNNPACK wasm build, useCpuInference):
#     the mean time of pose.send(image) per image with a person;
#   - MediaPipe as it runs by default off Apple devices (WebGL inference,
#     here on SwiftShader: no GPU on this machine), the same way.
# One core each: easel runs single-threaded, and so does the wasm build.
# Run by `make bench` (hack/bench.sh); it reports and never fails the build.
# Knobs: POSE_BENCH_RUNS (default 20 per image for easel, and a quarter of
# that for MediaPipe, whose sends are slower), POSE_BENCH_WEBGL=0 skips the
# WebGL figures.
. "$(dirname "$0")/../e2e/lib.sh"
N=${POSE_BENCH_RUNS:-20}
NM=$(( N / 4 > 2 ? N / 4 : 2 ))
MODELS=$ROOT/models
"$ROOT/hack/fetch-pose-models.sh" "$MODELS" >"$WORK/fetch.log" 2>&1 || { cat "$WORK/fetch.log"; exit 1; }
POSE_SKIP_LARGE=1 POSE_DEB_CACHE=$ROOT/build/tools/pose-debs \
  "$ROOT/tests/pose/images.sh" "$WORK/img" >"$WORK/images.log" 2>&1 || { cat "$WORK/images.log"; exit 1; }
# the images with a person (the same for both: test_pose checks that)
IMGS=()
for f in "$WORK"/img/dn_person*.png "$WORK"/img/sk_astronaut.png; do IMGS+=("$f"); done
echo "images: ${#IMGS[@]} with a person ($(cd "$WORK/img" && ls dn_person*.png sk_astronaut.png | tr '\n' ' '))"
printf '%-40s %10s %10s %12s\n' "" "ms/image" "poses/s" "peak memory"
for pair in lite:0 full:1; do
  m=${pair%%:*} c=${pair##*:}
  total=0 peak=0
  for f in "${IMGS[@]}"; do
    "$EASEL" pose --pose-models "$MODELS" --pose-model "$m" --repeat "$N" -o json "$f" >"$WORK/e.json" || true
    read -r ms rss < <(python3 -c "
import json,sys; d=json.load(open(sys.argv[1])); print(d['ms']['detect']+d['ms']['landmarks'], d['peak_rss_kb'])" "$WORK/e.json")
    total=$(python3 -c "print($total + $ms)")
    [ "$rss" -gt "$peak" ] && peak=$rss
  done
  ems=$(python3 -c "print('%.1f' % ($total / ${#IMGS[@]}))")
  printf '%-40s %10s %10s %9s MB\n' "easel $m (C, 1 thread)" "$ems" \
    "$(python3 -c "print('%.1f' % (1000 / $ems))")" "$(( peak / 1024 ))"
  for inf in cpu webgl; do
    [ "$inf" = webgl ] && [ "${POSE_BENCH_WEBGL:-1}" = 0 ] && continue
    if "$ROOT/hack/pose-ref.sh" --complexity "$c" --inference "$inf" --flush blank --bench "$NM" \
      "${IMGS[@]}" >"$WORK/ref.jsonl" 2>"$WORK/ref.err"; then
      python3 -c "
import json,sys
b=[json.loads(l)['bench'] for l in open(sys.argv[1]) if l.startswith('{\"bench\"')][0]
ms=b['mean_ms_pose']
print('%-40s %10.1f %10.1f %9d MB (PSS, browser)' % (sys.argv[2], ms, 1000/ms, b['browser_peak_pss_mb']))" \
        "$WORK/ref.jsonl" "MediaPipe $m (wasm, $inf inference)"
    else
      echo "MediaPipe $m ($inf): unavailable: $(tail -1 "$WORK/ref.err")"
    fi
  done
done
finish >/dev/null
