#!/usr/bin/env python3
"""Writes hostile images for the scenarios: a PNG that declares 100000x100000
pixels in a few hundred bytes (a decompression bomb), a truncated JPEG and a
text file with a .jpg name. Usage: hostile.py GOOD_JPEG OUTDIR"""
import struct, sys, zlib

good, out = sys.argv[1], sys.argv[2]

def chunk(kind, data):
    c = struct.pack(">I", len(data)) + kind + data
    return c + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)

ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
row = b"\x00" + b"\x00" * 300
idat = zlib.compress(row * 4, 9)
with open(f"{out}/bomb.png", "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))

data = open(good, "rb").read()
with open(f"{out}/truncated.jpg", "wb") as f:
    f.write(data[: len(data) // 3])

with open(f"{out}/notanimage.jpg", "w") as f:
    f.write("<html>this is not an image</html>\n")
