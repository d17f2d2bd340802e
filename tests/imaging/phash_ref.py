#!/usr/bin/python3
"""phash_ref.py FILE...: prints, per file, "HASH FILE", the 64-bit
perceptual hash computed as the imagehash library's phash() computes it:
Pillow's convert("L"), Pillow's Lanczos resize to 32x32, scipy's DCT-II
along both axes, the top-left 8x8 against its median, row-major bits with
the first one most significant. Debian's Pillow, numpy and scipy do the
work: an implementation independent of easel's C one (pkg/imaging/phash.c),
to test that against. Run with Debian's python3 (/usr/bin/python3)."""
import sys

import numpy
import scipy.fftpack
from PIL import Image


def phash(path):
    with Image.open(path) as im:
        small = im.convert("L").resize((32, 32), Image.Resampling.LANCZOS)
    pixels = numpy.asarray(small)
    dct = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=0), axis=1)
    low = dct[:8, :8]
    bits = (low > numpy.median(low)).flatten()
    value = 0
    for b in bits:
        value = (value << 1) | int(b)
    return "%016x" % value


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(phash(p), p)
