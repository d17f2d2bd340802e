#!/usr/bin/env bash
# Generates sample source images with the vips command-line tool, so tests
# and the demo need no image files in the repository and no network:
#
#   hack/sample-images.sh DIR [W H]
#
# Writes DIR/room-1.jpg .. room-3.jpg (a "room": wall gradient, darker floor,
# a window, sensor noise), DIR/person.jpg and DIR/garment.png (try-on), all
# deterministic for a given size.
set -euo pipefail
dir=${1:?usage: $0 DIR [W H]}; W=${2:-1600}; H=${3:-1200}
mkdir -p "$dir"
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT

room() { # out r g b floor-darkness window-x
  local out=$1 r=$2 g=$3 b=$4 dark=$5 wx=$6
  vips xyz "$t/xy.v" "$W" "$H"
  vips extract_band "$t/xy.v" "$t/x.v" 0
  vips extract_band "$t/xy.v" "$t/y.v" 1
  # wall: vertical light falloff; floor (lower third): darker band
  vips linear "$t/y.v" "$t/wall.v" -- "$(awk -v h="$H" 'BEGIN{printf "%.6f", -60/h}')" 200
  vips relational_const "$t/y.v" "$t/floor.v" moreeq "$((H * 2 / 3))"
  vips linear "$t/floor.v" "$t/fl.v" -- "$(awk -v d="$dark" 'BEGIN{printf "%.6f", -d/255}')" 0
  vips add "$t/wall.v" "$t/fl.v" "$t/l.v"
  # a bright "window" rectangle on the wall
  vips black "$t/win.v" $((W / 5)) $((H / 4))
  vips linear "$t/win.v" "$t/win2.v" 1 55
  vips embed "$t/win2.v" "$t/winf.v" "$wx" $((H / 6)) "$W" "$H"
  vips add "$t/l.v" "$t/winf.v" "$t/lum.v"
  vips gaussnoise "$t/n.v" "$W" "$H" --mean 0 --sigma 6 --seed 7
  vips add "$t/lum.v" "$t/n.v" "$t/ln.v"
  vips linear "$t/ln.v" "$t/R.v" "$r" 0
  vips linear "$t/ln.v" "$t/G.v" "$g" 0
  vips linear "$t/ln.v" "$t/B.v" "$b" 0
  vips bandjoin "$t/R.v $t/G.v $t/B.v" "$t/rgb.v"
  vips cast "$t/rgb.v" "$t/u.v" uchar
  vips copy "$t/u.v" "$out[Q=90]" --interpretation srgb
}

room "$dir/room-1.jpg" 1.00 0.95 0.85 60 $((W / 8))
room "$dir/room-2.jpg" 0.90 0.95 1.00 80 $((W / 2))
room "$dir/room-3.jpg" 1.00 0.90 0.80 100 $((W * 2 / 3))
room "$dir/person.jpg" 0.95 0.85 0.80 40 $((W / 3))
# garment: a coloured shape on transparent background
vips black "$t/g.v" $((W / 3)) $((H / 2)) --bands 3
vips linear "$t/g.v" "$t/gc.v" "1 1 1" "180 40 60"
vips black "$t/a.v" $((W / 3)) $((H / 2))
vips linear "$t/a.v" "$t/a2.v" 1 255
vips bandjoin "$t/gc.v $t/a2.v" "$t/ga.v"
vips cast "$t/ga.v" "$t/gu.v" uchar
vips copy "$t/gu.v" "$dir/garment.png" --interpretation srgb
