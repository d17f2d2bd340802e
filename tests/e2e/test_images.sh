#!/usr/bin/env bash
# The image path as operators see it through `easel image`, which runs job
# mode's own code: a generated corpus of hostile and awkward files, each
# accepted or refused as docs/images.md says (never a crash or a hang);
# perceptual hashes equal, bit for bit, to an independent implementation
# of imagehash's phash (Pillow and scipy: tests/imaging/phash_ref.py);
# and a preset's variants at the documented sizes, formats and quality.
. "$(dirname "$0")/lib.sh"
samples
PY=/usr/bin/python3 # Debian's, with Pillow and scipy (hack/install-deps.sh)
C=$WORK/corpus
"$PY" "$ROOT/tests/imaging/corpus.py" "$C" >"$WORK/expect.txt" || { fail "corpus"; exit 1; }

# --- every corpus file ends as documented, in bounded time, without a crash
wrong=""; crashed=""
while read -r name expected size; do
  out=$(timeout 30 "$EASEL" image check "$C/$name" 2>/dev/null); rc=$?
  [ "$rc" -gt 1 ] && crashed+=" $name(rc=$rc)"
  if [ "$expected" = ok ]; then
    grep -q "ok: .* $size as loaded" <<<"$out" && [ "$rc" = 0 ] || wrong+=" $name[$out]"
  else
    grep -q "refused ($expected)" <<<"$out" && [ "$rc" = 1 ] || wrong+=" $name[$out]"
  fi
done <"$WORK/expect.txt"
n=$(wc -l <"$WORK/expect.txt")
echo "corpus: $n files" >&2
check "no corpus file crashed or hung easel image check" eq "$crashed" ""
check "every corpus file ($n) was accepted or refused as documented" eq "$wrong" ""
check "the corpus covers bombs of every enabled format" eq \
  "$(grep -c '^bomb\.' "$WORK/expect.txt")" 3

# --- formats the registry enables: GIF and TIFF, still under every limit
printf 'formats: [gif, tiff]\nmodels:\n  - {id: local/vips-stage, provider: local}\n' >"$WORK/formats.yaml"
"$PY" - "$C" <<'PYEOF'
import struct, sys
d = sys.argv[1]
gif = open(d + "/image.gif", "rb").read()
open(d + "/truncated.gif", "wb").write(gif[: len(gif) // 3])
# a GIF whose logical screen and only frame declare 65535x65535
hdr = b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0, 0, 0)
img = b"," + struct.pack("<HHHHB", 0, 0, 65535, 65535, 0) + b"\x02\x02\x4c\x01\x00;"
open(d + "/bomb.gif", "wb").write(hdr + img)
PYEOF
fcheck() { timeout 30 "$EASEL" image check --registry "$WORK/formats.yaml" "$C/$1" 2>/dev/null; }
check "with formats: [gif, tiff], a GIF is accepted" grep -q 'ok: gif, 300x200' <<<"$(fcheck image.gif)"
check "and a TIFF, even named .jpg" grep -q 'ok: tiff, 300x200' <<<"$(fcheck tiff-named.jpg)"
check "a truncated GIF is still refused as corrupt" grep -q 'refused (corrupt_image)' <<<"$(fcheck truncated.gif)"
check "a GIF declaring 65535x65535 is refused before decoding" grep -q 'refused (image_too_large)' <<<"$(fcheck bomb.gif)"
check "BMP stays refused: it cannot be enabled" grep -q 'refused (unsupported_format)' <<<"$(fcheck image.bmp)"
check "without the registry, a GIF is refused and the message says how to enable it" grep -q \
  "the registry's formats can enable it" <<<"$("$EASEL" image check "$C/image.gif")"
check "a registry enabling HEIF is refused" bash -c \
  "printf 'formats: [heif]\nmodels:\n  - {id: m, provider: local}\n' >'$WORK/heif.yaml'; ! '$EASEL' registry validate '$WORK/heif.yaml' 2>/dev/null"

# --- perceptual hashes: the same bits as imagehash's phash
H=$WORK/hashes; mkdir -p "$H"
cp "$SAMPLES"/*.jpg "$SAMPLES"/*.png "$H"/
cp "$C"/plain.* "$C"/progressive.jpg "$C"/grey.png "$C"/rgba.png "$C"/palette.png "$C"/orientation-6.jpg "$H"/
"$PY" - "$H" <<'PYEOF'
import sys
import numpy as np
from PIL import Image
d = sys.argv[1]
rng = np.random.default_rng(11)
Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)).save(d + "/noise.png")
Image.fromarray(rng.integers(0, 256, (15, 20, 3), dtype=np.uint8)).save(d + "/tiny.png")
Image.fromarray(rng.integers(0, 256, (1000, 200, 3), dtype=np.uint8)).save(d + "/tall.jpg", quality=85)
x = np.tile(np.linspace(0, 255, 700), (300, 1)).astype(np.uint8)
Image.fromarray(x).save(d + "/hgrad.png")
Image.fromarray(x.T.copy()).save(d + "/vgrad.png")
h = np.tile(np.linspace(0, 255, 300), (200, 1))
Image.fromarray(np.dstack([h, h[:, ::-1], np.full_like(h, 128)]).astype(np.uint8)).save(d + "/rgb-grad.webp", quality=90)
Image.new("RGB", (100, 150), (200, 30, 90)).save(d + "/solid.png")
PYEOF
for f in "$H"/*; do echo "$("$EASEL" image phash "$f") $f"; done >"$WORK/easel-hashes.txt"
"$PY" "$ROOT/tests/imaging/phash_ref.py" "$H"/* >"$WORK/ref-hashes.txt"
nh=$(wc -l <"$WORK/ref-hashes.txt")
echo "phash: $nh files compared" >&2
check "easel image phash equals the reference on all $nh files (JPEG, progressive, PNG grey/RGBA/palette, WebP, tiny, tall, flat)" \
  diff "$WORK/easel-hashes.txt" "$WORK/ref-hashes.txt"
check "a hash is 16 lower-case hex digits" bash -c "! grep -qvE '^[0-9a-f]{16} ' '$WORK/easel-hashes.txt'"
hash_of() { "$EASEL" image phash "$1"; }
dist() { python3 -c "print(bin(int('$1', 16) ^ int('$2', 16)).count('1'))"; }
vips thumbnail "$SAMPLES/room-1.jpg" "$WORK/room-1-small.jpg[Q=60]" 400
d_near=$(dist "$(hash_of "$SAMPLES/room-1.jpg")" "$(hash_of "$WORK/room-1-small.jpg")")
d_far=$(dist "$(hash_of "$SAMPLES/room-1.jpg")" "$(hash_of "$H/noise.png")")
echo "phash distance: resized and re-encoded copy $d_near, unrelated image $d_far" >&2
check "a resized, re-encoded copy is within 6 bits" test "$d_near" -le 6
check "an unrelated image is at least 20 bits away" test "$d_far" -ge 20
check "phash refuses what the loader refuses, with the reason" grep -q 'refused (image_too_large)' \
  <<<"$("$EASEL" image phash "$C/bomb.png")"

# --- variants: sizes, formats, quality; fit inside, never enlarged
V=$WORK/variants
"$EASEL" image variants --preset dall-e "$SAMPLES/room-1.jpg" "$V" >"$WORK/variants.txt"
dims() { vipsheader -f width "$1" | tr -d '\n'; printf x; vipsheader -f height "$1"; }
check "dall-e normal is a 1024x768 JPEG (1600x1200 fitted inside 1024x1024)" eq "$(dims "$V/normal.jpg")" 1024x768
check "dall-e hq is the 1600x1200 WebP, not enlarged to 2048" eq "$(dims "$V/hq.webp")" 1600x1200
check "dall-e thumb is 256x192" eq "$(dims "$V/thumb.jpg")" 256x192
check "the formats are what the names say" eq "$(file -b --mime-type "$V/normal.jpg" "$V/hq.webp" | tr '\n' ' ')" "image/jpeg image/webp "
check "the listing gives each variant's quality" grep -q "normal.jpg	jpeg	1024x768	q80" "$WORK/variants.txt"
q=$(python3 -c "
import sys
d = open('$V/normal.jpg', 'rb').read()
i = d.find(b'\xff\xdb')            # the first quantisation table
print(d[i + 5 + 0])                # its DC quantiser")
check "the normal JPEG was encoded at quality 80 (libjpeg's DC quantiser for q80 is 6)" eq "$q" 6
"$EASEL" image variants --preset sora "$C/orientation-6.jpg" "$WORK/sora" >/dev/null
check "an EXIF-rotated source comes out upright (200x300 stays portrait)" eq "$(dims "$WORK/sora/normal.jpg")" 200x300
# --- an embedded colour profile is honoured: Display P3 numbers become sRGB
"$PY" -c '
from PIL import Image
im = Image.new("RGB", (300, 100))
for i, c in enumerate([(255, 0, 0), (0, 200, 0), (30, 60, 240)]):
    im.paste(c, (i * 100, 0, i * 100 + 100, 100))
im.save("'"$WORK"'/sat.png")'
vips icc_transform "$WORK/sat.png" "$WORK/sat-p3.png" p3 --input-profile srgb --intent relative
printf 'presets:\n  exact:\n    - {name: full, format: png, width: 4096, height: 4096, quality: 100}\nmodels:\n  - {id: local/vips-stage, provider: local}\n' >"$WORK/png.yaml"
"$EASEL" image variants --registry "$WORK/png.yaml" --preset exact "$WORK/sat-p3.png" "$WORK/p3out" >/dev/null
colours=$(for x in 50 150 250; do vips getpoint "$WORK/p3out/full.png" $x 50; done | tr '\n' ' ')
raw=$(vips getpoint "$WORK/sat-p3.png" 50 50)
echo "P3 red stored as [$raw]; easel's sRGB output: [$colours]" >&2
check "a Display P3 image comes out in sRGB with its colours (red, green, blue patches within 3)" python3 -c "
got = [int(v) for v in '$colours'.split()]
want = [255, 0, 0, 0, 200, 0, 30, 60, 240]
assert max(abs(a - b) for a, b in zip(got, want)) <= 3, got"
check "and the P3 numbers were really different" python3 -c "assert abs(int('$raw'.split()[0]) - 255) > 10"
# --- metadata: none in any output, or exactly the sRGB profile when asked
# (read from the containers by tests/imaging/meta_probe.py, not by libvips)
"$PY" -c '
from PIL import Image
p3 = Image.open("'"$WORK"'/sat-p3.png").info["icc_profile"]
im = Image.open("'"$SAMPLES"'/room-1.jpg")
ex = Image.Exif(); ex[0x0112] = 6; ex[0x010F] = "Canon"; ex[0x0131] = "PhotoEditor 9"
im.save("'"$WORK"'/tagged-src.jpg", quality=90, exif=ex.tobytes(), icc_profile=p3)'
cat >"$WORK/meta.yaml" <<'YAML'
presets:
  tagged:
    - {name: j, format: jpeg, width: 600, height: 600, quality: 80, profile: srgb}
    - {name: w, format: webp, width: 500, height: 500, quality: 80, profile: srgb}
    - {name: p, format: png, width: 300, height: 300, profile: srgb}
  plain:
    - {name: j, format: jpeg, width: 600, height: 600, quality: 80}
    - {name: w, format: webp, width: 500, height: 500, quality: 80, profile: none}
    - {name: p, format: png, width: 300, height: 300}
models:
  - {id: local/vips-stage, provider: local}
YAML
"$EASEL" image variants --preset dall-e "$WORK/tagged-src.jpg" "$WORK/m-dalle" >/dev/null
"$EASEL" image variants --registry "$WORK/meta.yaml" --preset plain "$WORK/tagged-src.jpg" "$WORK/m-plain" >/dev/null
"$EASEL" image variants --registry "$WORK/meta.yaml" --preset tagged "$WORK/tagged-src.jpg" "$WORK/m-tagged" >/dev/null
"$PY" "$ROOT/tests/imaging/meta_probe.py" "$WORK/tagged-src.jpg" "$WORK"/m-*/* | sed "s|$WORK/||" >"$WORK/meta-probe.txt"
cat "$WORK/meta-probe.txt" >&2
probe() { grep "^$1 " "$WORK/meta-probe.txt" | cut -d' ' -f2-; }
check "the source carries Exif and libvips' Display P3 profile (sP3C)" grep -q '^tagged-src.jpg jpeg layout=.*APP1:Exif.* icc=sP3C$' "$WORK/meta-probe.txt"
check "dall-e outputs carry no metadata at all (the WebP is the simple format, no Exif chunk)" eq \
  "$(probe m-dalle/normal.jpg) | $(probe m-dalle/hq.webp) | $(probe m-dalle/thumb.jpg)" \
  "jpeg layout=- icc=none | webp layout=VP8 icc=none | jpeg layout=- icc=none"
check "so do PNG outputs (no text or Exif chunks)" eq "$(probe m-plain/p.png)" "png layout=pHYs icc=none"
check "with profile: srgb, a JPEG carries the sRGB profile and nothing else" eq \
  "$(probe m-tagged/j.jpg)" "jpeg layout=APP2:ICC_PROFILE icc=sRGB"
check "a WebP carries it in the extended layout the container spec orders (VP8X, ICCP, VP8)" eq \
  "$(probe m-tagged/w.webp)" "webp layout=VP8X,ICCP,VP8 icc=sRGB"
check "a PNG carries it as iCCP" eq "$(probe m-tagged/p.png)" "png layout=iCCP,pHYs icc=sRGB"
check "the profile changes no pixel, in any format" "$PY" -c "
import numpy as np
from PIL import Image
for n in ('j.jpg', 'w.webp', 'p.png'):
    a = np.asarray(Image.open('$WORK/m-plain/' + n).convert('RGB'))
    b = np.asarray(Image.open('$WORK/m-tagged/' + n).convert('RGB'))
    assert a.shape == b.shape and np.array_equal(a, b), n"
check "the tagged WebP (upright, portrait) opens in libwebp, which checks its VP8X canvas" eq \
  "$(dims "$WORK/m-tagged/w.webp")" 375x500
check "a profile other than srgb or none is refused by name" grep -q 'profile must be srgb or none, not "p3"' \
  <<<"$(sed 's/profile: srgb/profile: p3/' "$WORK/meta.yaml" >"$WORK/meta-bad.yaml"; "$EASEL" registry validate "$WORK/meta-bad.yaml" 2>&1)"
check "an unknown preset is refused" bash -c "! '$EASEL' image variants --preset nope '$SAMPLES/room-1.jpg' '$WORK/x' 2>/dev/null"
finish
