#!/usr/bin/python3
"""corpus.py OUTDIR: writes the image corpus the image tests run through
`easel image check` and the loader, and prints one line per file:
NAME EXPECTED, where EXPECTED is "ok WxH" (the size as loaded, after
orientation) or the refusal reason. Everything is generated here, from
nothing: bombs that declare enormous sizes in a few hundred bytes,
truncated and corrupted files of each enabled format, formats that are
not enabled, misleading names, a progressive JPEG and EXIF orientations.
Needs Debian's Pillow (/usr/bin/python3)."""
import io
import os
import struct
import sys
import zlib

from PIL import Image

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
expect = []


def put(name, data, expected):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
    expect.append((name, expected))


def encode(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def png_chunk(kind, data):
    c = struct.pack(">I", len(data)) + kind + data
    return c + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)


def photo(w, h):
    """A picture with structure (gradients and shapes), deterministic."""
    im = Image.new("RGB", (w, h))
    px = im.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = ((x * 255) // w, (y * 255) // h, ((x ^ y) * 3) & 255)
    return im


base = photo(300, 200)
jpeg = encode(base, "JPEG", quality=90)
png = encode(base, "PNG")
webp = encode(base, "WEBP", quality=80)

# --- accepted
put("plain.jpg", jpeg, "ok 300x200")
put("plain.png", png, "ok 300x200")
put("plain.webp", webp, "ok 300x200")
put("progressive.jpg", encode(base, "JPEG", quality=85, progressive=True), "ok 300x200")
put("png-named.jpg", png, "ok 300x200")            # the name lies; bytes decide
put("jpeg-named.webp", jpeg, "ok 300x200")
put("grey.png", encode(base.convert("L"), "PNG"), "ok 300x200")
put("rgba.png", encode(base.convert("RGBA"), "PNG"), "ok 300x200")
put("palette.png", encode(base.convert("P"), "PNG"), "ok 300x200")
put("cmyk.jpg", encode(base.convert("CMYK"), "JPEG", quality=90), "ok 300x200")
for o, size in ((3, "300x200"), (6, "200x300"), (8, "200x300")):
    exif = Image.Exif()
    exif[0x0112] = o
    put("orientation-%d.jpg" % o, encode(base, "JPEG", quality=90, exif=exif.tobytes()),
        "ok " + size)
# entropy-coded data damaged in the middle: libjpeg conceals it and warns,
# as browsers show such files
mid = bytearray(jpeg)
sos = mid.find(b"\xff\xda")
for i in range(sos + 200, sos + 260):
    mid[i] = 0x55
put("glitched.jpg", bytes(mid), "ok 300x200")

# --- refused before decoding: bombs
ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
put("bomb.png", b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) +
    png_chunk(b"IDAT", zlib.compress(b"\x00" * 3001 * 4, 9)) + png_chunk(b"IEND", b""),
    "image_too_large")
sof = bytearray(jpeg)
i = sof.find(b"\xff\xc0")
sof[i + 5:i + 9] = struct.pack(">HH", 60000, 60000)   # height, width
put("bomb.jpg", bytes(sof), "image_too_large")
# a lossless WebP whose header declares 16383x16383 (the most WebP allows), then a few bytes
vp8l = b"\x2f" + struct.pack("<I", 16382 | 16382 << 14) + b"\x00" * 63  # even: RIFF pads odd chunks
riff = b"WEBP" + b"VP8L" + struct.pack("<I", len(vp8l)) + vp8l
put("bomb.webp", b"RIFF" + struct.pack("<I", len(riff)) + riff, "image_too_large")
put("wide.png", encode(Image.new("L", (20000, 1)), "PNG"), "image_too_large")

# --- refused: damaged
put("truncated.jpg", jpeg[: len(jpeg) // 3], "corrupt_image")
put("truncated.png", png[: len(png) // 2], "corrupt_image")
put("truncated.webp", webp[: len(webp) // 2], "corrupt_image")
bad = bytearray(png)
j = bad.find(b"IDAT") + 40
bad[j:j + 16] = b"\xde\xad\xbe\xef" * 4
put("bad-crc.png", bytes(bad), "corrupt_image")
put("header-only.jpg", jpeg[:2], "unsupported_format")
put("empty.png", b"", "unsupported_format")

# --- refused: formats that are not enabled, whatever their names say
put("image.gif", encode(base, "GIF"), "unsupported_format")
put("image.tiff", encode(base, "TIFF"), "unsupported_format")
put("tiff-named.jpg", encode(base, "TIFF"), "unsupported_format")
put("image.bmp", encode(base, "BMP"), "unsupported_format")
put("image.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="99999" height="99999">'
    b'<rect width="10" height="10"/></svg>', "unsupported_format")
put("svg-named.png", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
    "unsupported_format")
put("doc.pdf", b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n",
    "unsupported_format")
put("page.html", b"<html><body>not an image</body></html>", "unsupported_format")

for name, e in expect:
    print(name, e)
