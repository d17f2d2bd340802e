#!/usr/bin/python3
"""meta_probe.py FILE... - what metadata each image file carries, read from
the container itself, independently of easel and libvips: one line per file,

    FILE FORMAT layout=PARTS icc=DESCRIPTION|none

where PARTS lists, in file order, the WebP RIFF chunks, the JPEG APPn and
COM segments, or the PNG ancillary chunks (IHDR, IDAT, IEND and PLTE left
out), and DESCRIPTION is the ICC profile's description as littlecms reads
it through Pillow. Used by tests/e2e/test_images.sh.
"""
import io
import struct
import sys

from PIL import Image, ImageCms


def webp_parts(d):
    parts, at = [], 12
    while at + 8 <= len(d):
        fourcc, n = d[at:at + 4].decode("latin-1"), struct.unpack("<I", d[at + 4:at + 8])[0]
        parts.append(fourcc.strip())
        at += 8 + n + (n & 1)
    return parts


def jpeg_parts(d):
    parts, at = [], 2
    while at + 4 <= len(d) and d[at] == 0xFF:
        marker = d[at + 1]
        if marker == 0xDA:  # start of scan: no more metadata segments
            break
        n = struct.unpack(">H", d[at + 2:at + 4])[0]
        if 0xE0 <= marker <= 0xEF:
            ident = d[at + 4:at + 4 + 12].split(b"\0")[0].decode("latin-1")
            parts.append(f"APP{marker - 0xE0}:{ident}")
        elif marker == 0xFE:
            parts.append("COM")
        at += 2 + n
    return parts


def png_parts(d):
    parts, at = [], 8
    while at + 8 <= len(d):
        n, kind = struct.unpack(">I4s", d[at:at + 8])
        kind = kind.decode("latin-1")
        if kind not in ("IHDR", "IDAT", "IEND", "PLTE"):
            parts.append(kind)
        at += 12 + n
    return parts


def main():
    for path in sys.argv[1:]:
        d = open(path, "rb").read()
        if d[:4] == b"RIFF" and d[8:12] == b"WEBP":
            fmt, parts = "webp", webp_parts(d)
        elif d[:2] == b"\xff\xd8":
            fmt, parts = "jpeg", jpeg_parts(d)
        elif d[:8] == b"\x89PNG\r\n\x1a\n":
            fmt, parts = "png", png_parts(d)
        else:
            fmt, parts = "unknown", []
        im = Image.open(path)
        im.load()
        icc = im.info.get("icc_profile")
        desc = "none"
        if icc:
            desc = ImageCms.getProfileDescription(
                ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip().replace(" ", "_")
        print(f"{path} {fmt} layout={','.join(parts) or '-'} icc={desc}")


if __name__ == "__main__":
    main()
