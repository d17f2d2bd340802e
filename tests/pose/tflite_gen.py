#!/usr/bin/env python3
"""Small TensorFlow Lite models, written here, with their expected outputs.

Each model exercises one operator of easel's interpreter (pkg/pose) the way
MediaPipe's pose models use it: CONV_2D and DEPTHWISE_CONV_2D with SAME and
VALID padding and strides, ADD, PAD, MAX_POOL_2D, RESIZE_BILINEAR,
CONCATENATION, RESHAPE, LOGISTIC, DEPTH_TO_SPACE, and weights stored as
float16, int8 (per channel) and sparse float16 behind DENSIFY. The expected
output is computed by a plain reference implementation below, written from
TensorFlow Lite's reference kernels' semantics, independent of the C code.

    tflite_gen.py OUTDIR     writes NAME.tflite, NAME.in and NAME.out
                             (little-endian float32) for every model
    tflite_gen.py --seeds DIR  writes only the .tflite files (fuzz seeds)

The FlatBuffer writer is the minimum the schema (TensorFlow's schema.fbs,
file identifier TFL3) needs: tables with vtables, vectors, strings and
unions, laid out front to back with forward offsets.
"""
import math
import os
import random
import struct
import sys

# ------------------------------------------------------------ flatbuffers


class T:
    """A table: fields is a list of (id, kind, value)."""

    def __init__(self, *fields):
        self.fields = [f for f in fields if f is not None]


SCALAR = {"u8": "<B", "i8": "<b", "bool": "<B", "i32": "<i", "u32": "<I",
          "f32": "<f", "i64": "<q", "u16": "<H"}
VEC = {"vi32": ("<i", 4), "vf32": ("<f", 4), "vi64": ("<q", 8),
       "vu16": ("<H", 2)}


class Writer:
    def __init__(self):
        self.b = bytearray()

    def align(self, n, extra=0):
        while (len(self.b) + extra) % n:
            self.b.append(0)

    def table(self, t):
        # inline layout: soffset, then each field aligned
        layout = []
        size = 4
        for fid, kind, val in t.fields:
            if kind in SCALAR:
                w = struct.calcsize(SCALAR[kind])
            else:
                w = 4  # an offset
            while size % w:
                size += 1
            layout.append((fid, kind, val, size))
            size += w
        nslots = max([f[0] for f in t.fields], default=-1) + 1
        vt = [0] * nslots
        for fid, kind, val, off in layout:
            vt[fid] = off
        # vtable first (so soffset is positive), then the table
        self.align(2)
        vpos = len(self.b)
        self.b += struct.pack("<HH", 4 + 2 * nslots, size)
        for v in vt:
            self.b += struct.pack("<H", v)
        self.align(8)
        tpos = len(self.b)
        self.b += bytes(size)
        struct.pack_into("<i", self.b, tpos, tpos - vpos)
        pending = []
        for fid, kind, val, off in layout:
            if kind in SCALAR:
                struct.pack_into(SCALAR[kind], self.b, tpos + off, val)
            else:
                pending.append((tpos + off, kind, val))
        for at, kind, val in pending:
            pos = self.child(kind, val)
            struct.pack_into("<I", self.b, at, pos - at)
        return tpos

    def child(self, kind, val):
        if kind == "table":
            return self.table(val)
        if kind == "str" or kind == "vu8":
            data = val.encode() if kind == "str" else bytes(val)
            self.align(4)
            pos = len(self.b)
            self.b += struct.pack("<I", len(data)) + data
            if kind == "str":
                self.b.append(0)
            return pos
        if kind in VEC:
            fmt, w = VEC[kind]
            self.align(max(w, 4), 4)
            pos = len(self.b)
            self.b += struct.pack("<I", len(val))
            for v in val:
                self.b += struct.pack(fmt, v)
            return pos
        if kind == "vtable":
            self.align(4)
            pos = len(self.b)
            self.b += struct.pack("<I", len(val)) + bytes(4 * len(val))
            for k, t in enumerate(val):
                at = pos + 4 + 4 * k
                p = self.table(t)
                struct.pack_into("<I", self.b, at, p - at)
            return pos
        raise ValueError(kind)

    def root(self, t):
        self.b += bytes(8)
        self.b[4:8] = b"TFL3"
        p = self.table(t)
        struct.pack_into("<I", self.b, 0, p)
        return bytes(self.b)


# ---------------------------------------------------------------- models

F32, F16, I32, I8 = 0, 1, 2, 9
OPS = {"ADD": 0, "CONCATENATION": 2, "CONV_2D": 3, "DEPTHWISE_CONV_2D": 4,
       "DEPTH_TO_SPACE": 5, "DEQUANTIZE": 6, "LOGISTIC": 14,
       "MAX_POOL_2D": 17, "RESHAPE": 22, "RESIZE_BILINEAR": 23, "PAD": 34,
       "DENSIFY": 124}
OPTS = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 2, "MAX_POOL_2D": 5,
        "CONCATENATION": 10, "ADD": 11, "RESIZE_BILINEAR": 15,
        "RESHAPE": 17, "PAD": 22, "DEPTH_TO_SPACE": 71}


def f16(x):
    return struct.unpack("<e", struct.pack("<e", x))[0]


class Model:
    def __init__(self):
        self.tensors = []  # (shape, type, data bytes or None, name, extra)
        self.ops = []

    def tensor(self, shape, ttype=F32, data=None, name="t", quant=None,
               sparsity=None):
        self.tensors.append((shape, ttype, data, name, quant, sparsity))
        return len(self.tensors) - 1

    def op(self, name, ins, out, opts=None):
        self.ops.append((name, ins, out, opts))

    def build(self, inp, outs):
        codes = sorted({o[0] for o in self.ops}, key=lambda n: OPS[n])
        buffers = [T()]
        tens = []
        for shape, ttype, data, name, quant, sparsity in self.tensors:
            b = 0
            if data is not None:
                buffers.append(T((0, "vu8", data)))
                b = len(buffers) - 1
            f = [(0, "vi32", shape), (1, "i8", ttype), (2, "u32", b),
                 (3, "str", name)]
            if quant:
                f.append((4, "table", quant))
            if sparsity:
                f.append((6, "table", sparsity))
            tens.append(T(*f))
        ops = []
        for name, ins, out, opts in self.ops:
            f = [(0, "u32", codes.index(name)), (1, "vi32", ins),
                 (2, "vi32", [out])]
            if opts is not None:
                f += [(3, "u8", OPTS[name]), (4, "table", opts)]
            ops.append(T(*f))
        sg = T((0, "vtable", tens), (1, "vi32", [inp]), (2, "vi32", outs),
               (3, "vtable", ops), (4, "str", "main"))
        opcodes = [T((0, "i8", min(OPS[n], 127)), (2, "i32", 1),
                     (3, "i32", OPS[n])) for n in codes]
        root = T((0, "u32", 3), (1, "vtable", opcodes), (2, "vtable", [sg]),
                 (3, "str", "easel test model"), (4, "vtable", buffers))
        return Writer().root(root)


def pack_f32(vals):
    return b"".join(struct.pack("<f", v) for v in vals)


def pack_f16(vals):
    return b"".join(struct.pack("<e", v) for v in vals)


def pack_i32(vals):
    return b"".join(struct.pack("<i", v) for v in vals)


# ------------------------------------------------------------- reference


def idx4(d, n, y, x, c):
    return ((n * d[1] + y) * d[2] + x) * d[3] + c


def out_size(n, k, s, dil, same):
    eff = (k - 1) * dil + 1
    if same:
        o = (n + s - 1) // s
        total = max((o - 1) * s + eff - n, 0)
        return o, total // 2
    return (n - eff) // s + 1, 0


def act(v, a):
    if a == 1:
        return max(v, 0.0)
    if a == 3:
        return min(max(v, 0.0), 6.0)
    return v


def ref_conv(x, xd, w, wd, b, stride, same, a, depthwise=False, mult=1):
    kh, kw = wd[1], wd[2]
    oh, pt = out_size(xd[1], kh, stride, 1, same)
    ow, pl = out_size(xd[2], kw, stride, 1, same)
    co = wd[3] if depthwise else wd[0]
    out = []
    for oy in range(oh):
        for ox in range(ow):
            for c in range(co):
                s = b[c] if b else 0.0
                for ky in range(kh):
                    iy = oy * stride - pt + ky
                    if iy < 0 or iy >= xd[1]:
                        continue
                    for kx in range(kw):
                        ix = ox * stride - pl + kx
                        if ix < 0 or ix >= xd[2]:
                            continue
                        if depthwise:
                            s += x[idx4(xd, 0, iy, ix, c // mult)] * \
                                w[(ky * kw + kx) * co + c]
                        else:
                            for ci in range(xd[3]):
                                s += x[idx4(xd, 0, iy, ix, ci)] * \
                                    w[((c * kh + ky) * kw + kx) * wd[3] + ci]
                out.append(act(s, a))
    return out, [1, oh, ow, co]


def rnd(r, n, lo=-1.0, hi=1.0):
    return [r.uniform(lo, hi) for _ in range(n)]


def conv_opts(stride, same, a, dw=False, mult=1):
    if dw:
        return T((0, "i8", 0 if same else 1), (1, "i32", stride),
                 (2, "i32", stride), (3, "i32", mult), (4, "i8", a))
    return T((0, "i8", 0 if same else 1), (1, "i32", stride),
             (2, "i32", stride), (3, "i8", a))


def models():
    r = random.Random(20261129)
    out = {}

    # CONV_2D 3x3 stride 2 SAME, relu6, fp16 weights through DEQUANTIZE
    m = Model()
    xd = [1, 7, 6, 3]
    x = rnd(r, 7 * 6 * 3)
    wd = [5, 3, 3, 3]
    w = [f16(v) for v in rnd(r, 5 * 27)]
    b = rnd(r, 5)
    i = m.tensor(xd, name="in")
    wh = m.tensor(wd, F16, pack_f16(w), "w16")
    wf = m.tensor(wd, F32, None, "w")
    bt = m.tensor([5], F32, pack_f32(b), "b")
    y, yd = ref_conv(x, xd, w, wd, b, 2, True, 3)
    o = m.tensor(yd, name="out")
    m.op("DEQUANTIZE", [wh], wf)
    m.op("CONV_2D", [i, wf, bt], o, conv_opts(2, True, 3))
    out["conv_same_s2_f16"] = (m.build(i, [o]), x, y)

    # CONV_2D 1x1 (the matrix product path), 37 outputs for the tails
    m = Model()
    xd = [1, 5, 3, 20]
    x = rnd(r, 5 * 3 * 20)
    wd = [37, 1, 1, 20]
    w = rnd(r, 37 * 20)
    b = rnd(r, 37)
    i = m.tensor(xd, name="in")
    wt = m.tensor(wd, F32, pack_f32(w), "w")
    bt = m.tensor([37], F32, pack_f32(b), "b")
    y, yd = ref_conv(x, xd, w, wd, b, 1, False, 1)
    o = m.tensor(yd, name="out")
    m.op("CONV_2D", [i, wt, bt], o, conv_opts(1, False, 1))
    out["conv_1x1_relu"] = (m.build(i, [o]), x, y)

    # CONV_2D with int8 per-channel weights
    m = Model()
    xd = [1, 4, 4, 2]
    x = rnd(r, 32)
    wd = [3, 2, 2, 2]
    q = [r.randint(-127, 127) for _ in range(24)]
    scales = [0.01, 0.02, 0.005]
    w = [q[k] * scales[k // 8] for k in range(24)]
    i = m.tensor(xd, name="in")
    quant = T((2, "vf32", scales), (3, "vi64", [0, 0, 0]), (6, "i32", 0))
    wq = m.tensor(wd, I8, bytes(v & 0xff for v in q), "wq", quant)
    wf = m.tensor(wd, F32, None, "w")
    y, yd = ref_conv(x, xd, w, wd, None, 1, False, 0)
    o = m.tensor(yd, name="out")
    m.op("DEQUANTIZE", [wq], wf)
    m.op("CONV_2D", [i, wf, -1], o, conv_opts(1, False, 0))
    out["conv_int8"] = (m.build(i, [o]), x, y)

    # DEPTHWISE 5x5 SAME stride 1 and 3x3 VALID stride 2, 12 channels
    for name, k, stride, same in (("dw5_same", 5, 1, True),
                                  ("dw3_valid_s2", 3, 2, False)):
        m = Model()
        xd = [1, 9, 8, 12]
        x = rnd(r, 9 * 8 * 12)
        wd = [1, k, k, 12]
        w = rnd(r, k * k * 12)
        b = rnd(r, 12)
        i = m.tensor(xd, name="in")
        wt = m.tensor(wd, F32, pack_f32(w), "w")
        bt = m.tensor([12], F32, pack_f32(b), "b")
        y, yd = ref_conv(x, xd, w, wd, b, stride, same, 0, True)
        o = m.tensor(yd, name="out")
        m.op("DEPTHWISE_CONV_2D", [i, wt, bt], o,
             conv_opts(stride, same, 0, True))
        out[name] = (m.build(i, [o]), x, y)

    # sparse fp16 weights: DENSIFY, DEQUANTIZE, CONV 1x1 (the detector's)
    m = Model()
    xd = [1, 2, 2, 6]
    x = rnd(r, 24)
    wd = [4, 1, 1, 6]
    dense = [0.0] * 24
    segs, idxs, vals = [0], [], []
    for row in range(4):
        for c in range(6):
            if r.random() < 0.5:
                v = f16(r.uniform(-1, 1))
                dense[row * 6 + c] = v
                idxs.append(c)
                vals.append(v)
        segs.append(len(idxs))
    dims = [T((0, "i8", 0), (1, "i32", 4)), T((0, "i8", 0), (1, "i32", 1)),
            T((0, "i8", 0), (1, "i32", 1)),
            T((0, "i8", 1), (2, "u8", 3), (3, "table", T((0, "vu8", segs))),
              (4, "u8", 3), (5, "table", T((0, "vu8", idxs))))]
    sp = T((0, "vi32", [0, 1, 2, 3]), (2, "vtable", dims))
    i = m.tensor(xd, name="in")
    ws = m.tensor(wd, F16, pack_f16(vals), "wsparse", sparsity=sp)
    wh = m.tensor(wd, F16, None, "w16")
    wf = m.tensor(wd, F32, None, "w")
    y, yd = ref_conv(x, xd, dense, wd, None, 1, False, 0)
    o = m.tensor(yd, name="out")
    m.op("DENSIFY", [ws], wh)
    m.op("DEQUANTIZE", [wh], wf)
    m.op("CONV_2D", [i, wf, -1], o, conv_opts(1, False, 0))
    out["sparse_f16"] = (m.build(i, [o]), x, y)

    # PAD, MAX_POOL, ADD with relu, LOGISTIC, RESHAPE, CONCATENATION
    m = Model()
    xd = [1, 4, 5, 3]
    x = rnd(r, 60, -3, 3)
    i = m.tensor(xd, name="in")
    pads = [0, 0, 1, 2, 2, 1, 0, 0]
    pt = m.tensor([4, 2], I32, pack_i32(pads), "pads")
    pd = [1, 7, 8, 3]
    p = m.tensor(pd, name="padded")
    m.op("PAD", [i, pt], p, T())
    padded = [0.0] * (7 * 8 * 3)
    for y_ in range(4):
        for x_ in range(5):
            for c in range(3):
                padded[idx4(pd, 0, y_ + 1, x_ + 2, c)] = x[idx4(xd, 0, y_, x_, c)]
    # MAX_POOL 2x2 stride 2 SAME
    oh, ptop = out_size(7, 2, 2, 1, True)
    ow, pleft = out_size(8, 2, 2, 1, True)
    mp = []
    for oy in range(oh):
        for ox in range(ow):
            for c in range(3):
                v = -math.inf
                for ky in range(2):
                    for kx in range(2):
                        iy, ix = oy * 2 - ptop + ky, ox * 2 - pleft + kx
                        if 0 <= iy < 7 and 0 <= ix < 8:
                            v = max(v, padded[idx4(pd, 0, iy, ix, c)])
                mp.append(v)
    mpd = [1, oh, ow, 3]
    mpt = m.tensor(mpd, name="pooled")
    m.op("MAX_POOL_2D", [p], mpt,
         T((0, "i8", 0), (1, "i32", 2), (2, "i32", 2), (3, "i32", 2),
           (4, "i32", 2)))
    bias = rnd(r, 3)
    bt = m.tensor([3], F32, pack_f32(bias), "bias")
    at = m.tensor(mpd, name="added")
    m.op("ADD", [mpt, bt], at, T((0, "i8", 1)))
    added = [max(v + bias[k % 3], 0.0) for k, v in enumerate(mp)]
    lt = m.tensor(mpd, name="sig")
    m.op("LOGISTIC", [at], lt)
    sig = [1 / (1 + math.exp(-v)) for v in added]
    n = len(sig)
    rs = m.tensor([2], I32, pack_i32([1, n]), "shape")
    rt = m.tensor([1, n], name="flat")
    m.op("RESHAPE", [lt, rs], rt, T((0, "vi32", [1, n])))
    c2 = rnd(r, 5)
    ct = m.tensor([1, 5], F32, pack_f32(c2), "extra")
    o = m.tensor([1, n + 5], name="out")
    m.op("CONCATENATION", [rt, ct], o, T((0, "i32", -1), (1, "i8", 0)))
    out["pad_pool_add_sigmoid_concat"] = (m.build(i, [o]), x, sig + c2)

    # RESIZE_BILINEAR (half pixel centres, as the pose models) and
    # DEPTH_TO_SPACE
    m = Model()
    xd = [1, 3, 4, 8]
    x = rnd(r, 96)
    i = m.tensor(xd, name="in")
    st = m.tensor([2], I32, pack_i32([6, 7]), "size")
    rd = [1, 6, 7, 8]
    rt = m.tensor(rd, name="resized")
    m.op("RESIZE_BILINEAR", [i, st], rt, T((2, "bool", 0), (3, "bool", 1)))
    res = []
    sy, sx = 3 / 6, 4 / 7
    for yy in range(6):
        fy = (yy + 0.5) * sy - 0.5
        y0 = max(int(math.floor(fy)), 0)
        y1 = min(int(math.ceil(fy)), 2)
        for xx in range(7):
            fx = (xx + 0.5) * sx - 0.5
            x0 = max(int(math.floor(fx)), 0)
            x1 = min(int(math.ceil(fx)), 3)
            dy, dx = fy - y0, fx - x0
            for c in range(8):
                res.append(x[idx4(xd, 0, y0, x0, c)] * (1 - dy) * (1 - dx) +
                           x[idx4(xd, 0, y1, x0, c)] * dy * (1 - dx) +
                           x[idx4(xd, 0, y0, x1, c)] * (1 - dy) * dx +
                           x[idx4(xd, 0, y1, x1, c)] * dy * dx)
    od = [1, 12, 14, 2]
    o = m.tensor(od, name="out")
    m.op("DEPTH_TO_SPACE", [rt, ], o, T((0, "i32", 2)))
    d2s = [0.0] * (12 * 14 * 2)
    for yy in range(6):
        for xx in range(7):
            for by in range(2):
                for bx in range(2):
                    for c in range(2):
                        d2s[idx4(od, 0, yy * 2 + by, xx * 2 + bx, c)] = \
                            res[idx4(rd, 0, yy, xx, (by * 2 + bx) * 2 + c)]
    out["resize_depth_to_space"] = (m.build(i, [o]), x, d2s)

    # a constant read at run time (ADD) and then folded (DEQUANTIZE into
    # another ADD): folding must copy it, not take it away
    m = Model()
    xd = [1, 2, 2, 4]
    x = rnd(r, 16)
    c = [f16(v) for v in rnd(r, 4)]
    i = m.tensor(xd, name="in")
    ct = m.tensor([4], F32, pack_f32(c), "c")
    a1 = m.tensor(xd, name="a1")
    m.op("ADD", [i, ct], a1, T((0, "i8", 0)))
    cd = m.tensor([4], F32, None, "c2")
    m.op("DEQUANTIZE", [ct], cd)
    o = m.tensor(xd, name="out")
    m.op("ADD", [a1, cd], o, T((0, "i8", 0)))
    out["const_read_then_folded"] = (m.build(i, [o]), x,
                                     [v + 2 * c[k % 4] for k, v in enumerate(x)])

    # the same output listed eight times
    m = Model()
    xd = [1, 3, 3, 2]
    x = rnd(r, 18, -2, 2)
    i = m.tensor(xd, name="in")
    o = m.tensor(xd, name="out")
    m.op("LOGISTIC", [i], o)
    out["output_listed_8_times"] = (m.build(i, [o] * 8), x,
                                    [1 / (1 + math.exp(-v)) for v in x])
    return out


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--seeds":
        os.makedirs(sys.argv[2], exist_ok=True)
        for name, (blob, _, _) in models().items():
            with open(os.path.join(sys.argv[2], name + ".tflite"), "wb") as f:
                f.write(blob)
        return
    if len(sys.argv) != 2:
        sys.exit("usage: tflite_gen.py OUTDIR | --seeds DIR")
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    for name, (blob, x, y) in models().items():
        with open(os.path.join(d, name + ".tflite"), "wb") as f:
            f.write(blob)
        with open(os.path.join(d, name + ".in"), "wb") as f:
            f.write(pack_f32(x))
        with open(os.path.join(d, name + ".out"), "wb") as f:
            f.write(pack_f32(y))


if __name__ == "__main__":
    main()
