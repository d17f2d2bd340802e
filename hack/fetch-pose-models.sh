#!/usr/bin/env bash
# hack/fetch-pose-models.sh [DEST] - puts MediaPipe's pose models where
# easel looks for them (--pose-models, EASEL_POSE_MODELS; default ./models).
#
# The files come from the npm package @mediapipe/pose, pinned with its
# integrity hash in hack/pose-models/package-lock.json, installed by npm
# from the registry (nothing is fetched at run time, and nothing here is
# committed: the models are Google's, under Apache-2.0, and stay in the
# package they ship in). The person detector travels inside the package's
# packed assets (pose_solution_packed_assets.data holds exactly one file,
# pose_detection.tflite, from byte 0 to its end); it is written out under
# that name. Every file's SHA-256 is checked against the list below, so a
# different package version is a clear failure, not a silent change.
set -euo pipefail
hack=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$hack/.." && pwd)
dest=${1:-${EASEL_POSE_MODELS:-$root/models}}
# shellcheck source=hack/npm-tool.sh
. "$hack/npm-tool.sh"

declare -A want=(
  [pose_detection.tflite]=a63c614bef30d35947f13be361820b1e4e3bec9cfeebf4d11216a18373108e85
  [pose_landmark_lite.tflite]=f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61
  [pose_landmark_full.tflite]=e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f
  [pose_landmark_heavy.tflite]=59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe
)

ok() { # the file is there with the expected hash
  [ -f "$dest/$1" ] && [ "$(sha256sum "$dest/$1" | cut -d' ' -f1)" = "${want[$1]}" ]
}

all=1
for f in "${!want[@]}"; do ok "$f" || all=0; done
if [ "$all" = 1 ]; then
  echo "pose models: $dest is up to date" >&2
  exit 0
fi

npm_tool pose-models "$hack/pose-models"
pkg=$NPM_TOOL_DIR/node_modules/@mediapipe/pose
[ -f "$pkg/pose_solution_packed_assets_loader.js" ] ||
  { echo "pose models: $pkg is not the @mediapipe/pose package" >&2; exit 2; }
# the packed assets must hold only the detector, from byte 0 to the end
grep -q '"filename": "/third_party/mediapipe/modules/pose_detection/pose_detection.tflite", "start": 0' \
  "$pkg/pose_solution_packed_assets_loader.js" ||
  { echo "pose models: the packed assets no longer start with pose_detection.tflite" >&2; exit 2; }

mkdir -p "$dest"
stage=$(mktemp -d "$dest/.stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cp "$pkg/pose_solution_packed_assets.data" "$stage/pose_detection.tflite"
for m in lite full heavy; do cp "$pkg/pose_landmark_$m.tflite" "$stage/"; done
for f in "${!want[@]}"; do
  got=$(sha256sum "$stage/$f" | cut -d' ' -f1)
  if [ "$got" != "${want[$f]}" ]; then
    echo "pose models: $f has SHA-256 $got, expected ${want[$f]}" >&2
    exit 2
  fi
done
chmod 0644 "$stage"/*.tflite
mv -f "$stage"/*.tflite "$dest/"
echo "pose models: wrote $(printf '%s ' "${!want[@]}")to $dest" >&2
