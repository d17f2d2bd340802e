#!/usr/bin/env bash
# Builds the pose test-image set (see IMAGES.md) into OUTDIR from files that
# Debian packages ship, plus variants generated with the vips CLI.
#
#   tests/pose/images.sh OUTDIR
#
# The source packages are NOT installed: their .deb files are fetched with
# `apt-get download` into a cache (default OUTDIR/.debs, or $POSE_DEB_CACHE)
# and only the needed files are unpacked from them, so no dependency (OpenCV,
# numpy, ...) is pulled in. A file that is already installed at its Debian path
# is used as it is. Packages (Debian 12 "bookworm"):
#   darknet                  0.0.0+git20180914.61c9d02e-2+b4   3.3 MB  person.jpg, dog.jpg
#   python3-skimage          0.19.3-8                          21 MB   astronaut.png, coffee.png
#   tuxpaint-stamps-default  2022.06.04-1                      161 MB  fireman240a.png, fireman200b.png
#                            (skipped with POSE_SKIP_LARGE=1: the fireman images are then absent)
#   libvips-tools            (installed with apt-get if `vips` is missing)
# Every output is a PNG written by vips with its metadata stripped (no iCCP/
# gAMA chunk for Chromium to colour-manage), except dn_person.jpg, which is the
# package's JPEG byte for byte. Each source file's SHA-256 is checked; a
# mismatch (a changed package) is an error unless POSE_ANY_SOURCE=1.
set -euo pipefail

out=${1:-}
if [ -z "$out" ] || [ "$out" = -h ] || [ "$out" = --help ]; then
    echo "usage: $0 OUTDIR" >&2; exit 2
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
cache=${POSE_DEB_CACHE:-$out/.debs}
mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

die() { echo "images.sh: $*" >&2; exit 1; }

if ! command -v vips >/dev/null; then
    echo "images.sh: installing libvips-tools" >&2
    apt-get install -y libvips-tools >/dev/null || die "cannot install libvips-tools"
fi

updated=
# src PACKAGE PATH SHA256 -> prints a local path to the file
src() {
    local pkg=$1 path=$2 sum=$3 deb f
    if [ -f "$path" ]; then f=$path
    else
        f=$cache/root$path
        if [ ! -f "$f" ]; then
            deb=$(ls "$cache"/"${pkg}"_*.deb 2>/dev/null | head -1 || true)
            if [ -z "$deb" ]; then
                echo "images.sh: apt-get download $pkg" >&2
                if ! (cd "$cache" && apt-get download "$pkg" >/dev/null 2>"$work/apt.err"); then
                    if [ -z "$updated" ]; then
                        apt-get update >/dev/null 2>&1 || true; updated=1
                        (cd "$cache" && apt-get download "$pkg" >/dev/null 2>"$work/apt.err") ||
                            die "apt-get download $pkg failed: $(tail -1 "$work/apt.err")"
                    else die "apt-get download $pkg failed: $(tail -1 "$work/apt.err")"; fi
                fi
                deb=$(ls "$cache"/"${pkg}"_*.deb | head -1)
            fi
            mkdir -p "$cache/root"
            dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$cache/root" ".$path" ||
                die "$path is not in $deb"
        fi
    fi
    if [ "$(sha256sum < "$f" | cut -d' ' -f1)" != "$sum" ]; then
        [ "${POSE_ANY_SOURCE:-}" = 1 ] || die "$f: SHA-256 differs from the one IMAGES.md describes (set POSE_ANY_SOURCE=1 to accept)"
        echo "images.sh: warning: $f differs from the described version" >&2
    fi
    printf '%s\n' "$f"
}

# save IN NAME: write OUTDIR/NAME (PNG, metadata stripped)
save() { vips copy "$1" "$out/$2[strip]"; }

# ---- darknet: person.jpg (one person standing, full body, back/side view) ----
person=$(src darknet /usr/share/darknet/data/person.jpg \
    cdcbab947e46110fc2b77784ac54ddbbab2640f1e44cb5e91fc8984a9793a7d1)
cp "$person" "$out/dn_person.jpg"
save "$person" dn_person.png
vips crop "$person" "$work/crop.v" 110 40 240 384                     # 240x384 portrait, person fills it
save "$work/crop.v" dn_person_crop.png
vips flip "$work/crop.v" "$work/mirror.v" horizontal
save "$work/mirror.v" dn_person_crop_mirror.png
# two people: the crop beside its mirror image (480x384)
vips join "$work/crop.v" "$work/mirror.v" "$work/two.v" horizontal
save "$work/two.v" dn_two_people.png
vips similarity "$work/crop.v" "$work/rot.v" --angle 20 --background "128 128 128"
save "$work/rot.v" dn_person_crop_rot20.png
vips similarity "$work/crop.v" "$work/rot.v" --angle -30 --background "128 128 128"
save "$work/rot.v" dn_person_crop_rot-30.png
vips resize "$work/crop.v" "$work/up.v" 2                            # 480x768
save "$work/up.v" dn_person_crop_x2.png
vips resize "$work/crop.v" "$work/down.v" 0.5                        # 120x192
save "$work/down.v" dn_person_crop_half.png
vips crop "$person" "$work/lb.v" 0 100 640 300                       # wide 32:15 band
save "$work/lb.v" dn_person_letterbox.png
# the same band one row shorter: no row of the detector's 224x224 input
# falls exactly on the image's edge (at 300 rows two do; docs/pose.md)
vips crop "$person" "$work/lb2.v" 0 100 640 299
save "$work/lb2.v" dn_person_letterbox299.png
vips embed "$person" "$work/bd.v" 160 106 960 636 --extend background --background "0 0 0"
save "$work/bd.v" dn_person_border.png
vips colourspace "$person" "$work/gray.v" b-w                         # 1-band grey PNG
save "$work/gray.v" dn_person_gray.png

# ---- scikit-image: astronaut (upper body, front), coffee (no person) ----
astro=$(src python3-skimage /usr/lib/python3/dist-packages/skimage/data/astronaut.png \
    88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5)
save "$astro" sk_astronaut.png
coffee=$(src python3-skimage /usr/lib/python3/dist-packages/skimage/data/coffee.png \
    cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7)
save "$coffee" sk_coffee.png

# ---- darknet: dog.jpg (dog, bicycle, car; no person) ----
dog=$(src darknet /usr/share/darknet/data/dog.jpg \
    5a9522051c3cec2bbd2f6323fccba32e8fbf3ddcc2b3e2fd46b04c720bc6f866)
save "$dog" dn_dog.png

# ---- generated: blank ----
vips black "$work/b.v" 640 480 --bands 3
vips linear "$work/b.v" "$work/g.v" 1 128 --uchar
save "$work/g.v" blank_gray.png

# ---- tuxpaint: firemen in protective suits (full body, walking, side view) ----
if [ "${POSE_SKIP_LARGE:-}" != 1 ]; then
    f240=$(src tuxpaint-stamps-default /usr/share/tuxpaint/stamps/people/fireman240a.png \
        9774b54817b29e5ee38d74459d5d1107653330f1d709afbfd23419499a7b1a71)
    f200=$(src tuxpaint-stamps-default /usr/share/tuxpaint/stamps/people/fireman200b.png \
        f5dc02ba8ad333d241be8d10c85158ace66598a06cde52b01199708ac26b0d51)
    vips flatten "$f240" "$work/f.v" --background 255                # RGBA -> RGB on white
    save "$work/f.v" tp_fireman240a.png
    vips flip "$work/f.v" "$work/fm.v" horizontal
    save "$work/fm.v" tp_fireman240a_mirror.png
    vips flatten "$f200" "$work/f2.v" --background 255
    save "$work/f2.v" tp_fireman200b.png
fi

ls "$out" | grep -v '^\.debs$' | sed "s|^|$out/|"
