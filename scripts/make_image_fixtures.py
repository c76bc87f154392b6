#!/usr/bin/python3
"""Writes the image test fixtures, with the reference outputs of Pillow and
torchvision that the Go tests compare against: those of the decode package
(datasets/images/decode), of the images dataset plugin (datasets/images)
and of the pixels backbone's resize (backbones/pixels). The single source
of these files: edit this script and rerun it, never the files.

    /usr/bin/python3 scripts/make_image_fixtures.py

Needs Debian bookworm's python3-pil (Pillow 9.4.0, linked to
libjpeg62-turbo 2.1.5, libwebp 1.2.4 and libtiff 6) and python3-numpy; the
cjpeg and jpegtran of libjpeg-turbo-progs (2.1.5) make the JPEG variants
Pillow cannot write (restart markers, arithmetic coding, RGB and
4:4:0/4:1:1 JPEG). With python3-torchvision (0.14.1) it also writes the
sample order torchvision's ImageFolder gives each layout and the outputs of
its Resize and CenterCrop (without it those files are kept as they are).
The versions are checked: the references are those of the versions
clusterlab reproduces. The output is deterministic (seeded pixels, fixed
file times) and small (a few KB a file).

Written under datasets/images/decode/testdata/:

  img/NAME.EXT      image files in every format, mode and layout the decode
                    package reads; many are written byte by byte below
                    (BMP, GIF, PNG and TIFF variants Pillow does not write)
  img/NAME.npy      np.asarray(Image.open(f).convert("RGB")), uint8 [H, W, 3]
                    (not for files the package refuses)
  index.json        per file: Pillow's format, mode and size (after load),
                    "unsupported" (the reason the package must give) for
                    files Pillow reads but the package refuses, and what
                    Pillow does with the file cut to 50% and 90% of its
                    length and without its last byte ("ok": the same
                    pixels, "other:SHA256": other pixels, whose sha256 of
                    "HxW" and the RGB bytes is given, "error")

Written under datasets/images/testdata/:

  layouts/...       folder trees in every layout (see layouts() below)
  layouts/*.order.json  torchvision's ImageFolder samples (path relative
                    to the layout's root, class index) and classes

Written under backbones/pixels/testdata/:

  resize/in_*.npy    input images (uint8 HWC, RGB and grey)
  resize/index.json  for each case: input, options, output file
  resize/out_*.npy   PIL Image.resize(..., BILINEAR or BICUBIC) outputs and
                     torchvision Resize(int) + CenterCrop(int) outputs
"""

import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import warnings
import zlib

import numpy as np
from PIL import Image, __version__ as pil_version

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DECODE = os.path.join(ROOT, "datasets", "images", "decode", "testdata")
FORMATS = os.path.join(DECODE, "img")
IMAGES = os.path.join(ROOT, "datasets", "images", "testdata")
PIXELS = os.path.join(ROOT, "backbones", "pixels", "testdata")
# Fixed modification time of every written file (2023-01-01 UTC), so that
# identities computed from stat are reproducible.
MTIME = 1672531200

if pil_version != "9.4.0":
    sys.exit(f"need Pillow 9.4.0 (Debian bookworm's python3-pil), found {pil_version}")


def rng(seed):
    return np.random.default_rng(seed)


def photo(h, w, seed, channels=3):
    """A smooth picture with edges and some noise, like a photo, so that
    JPEG and WebP exercise their upsampling and transforms."""
    r = rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    out = []
    for c in range(channels):
        fy, fx = r.uniform(0.05, 0.4, 2)
        ph = r.uniform(0, 6.28, 2)
        v = 128 + 70 * np.sin(fx * x + ph[0]) * np.cos(fy * y + ph[1])
        v += 40 * ((x + 2 * y + 7 * c) % 17 < 8)  # edges
        v += r.normal(0, 12, (h, w))
        out.append(v)
    a = np.clip(np.stack(out, -1), 0, 255).astype(np.uint8)
    return a if channels > 1 else a[:, :, 0]


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, (MTIME, MTIME))


# ==================================================================
# Formats: the decode package (datasets/images/decode/testdata).


H, W = 13, 19  # odd sizes: partial MCUs, chroma edges, padded rows and bits


def format_photo(h, w, seed, channels=3):
    """A smooth picture with hard edges and noise."""
    r = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    out = []
    for c in range(channels):
        fy, fx = r.uniform(0.1, 0.6, 2)
        ph = r.uniform(0, 6.28, 2)
        v = 128 + 80 * np.sin(fx * x + ph[0]) * np.cos(fy * y + ph[1])
        v += 50 * ((x + 2 * y + 5 * c) % 11 < 5)
        v += r.normal(0, 15, (h, w))
        out.append(v)
    a = np.clip(np.stack(out, -1), 0, 255).astype(np.uint8)
    return a if channels > 1 else a[:, :, 0]


def noise(shape, seed, hi=256, dtype=np.uint8):
    return np.random.default_rng(seed).integers(0, hi, shape).astype(dtype)


files = {}  # name -> note
unsupported = {}  # name -> reason substring


def add_file(name, data, note=""):
    os.makedirs(FORMATS, exist_ok=True)
    path = os.path.join(FORMATS, name)
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, (MTIME, MTIME))
    files[name] = note


def pil(name, im, note="", **kw):
    buf = io.BytesIO()
    im.save(buf, **kw)
    add_file(name, buf.getvalue(), note)


# ------------------------------------------------------------------ PNG


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def pack_bits(vals, depth):
    """Samples packed most significant bit first, padded to a byte."""
    if depth >= 8:
        raise ValueError(depth)
    bits = "".join(format(int(v), f"0{depth}b") for v in vals)
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))


def png_rows(samples, depth, ys, xs):
    raw = b""
    for y in ys:
        vals = samples[y][xs].reshape(-1)
        if depth == 16:
            line = b"".join(struct.pack(">H", int(v)) for v in vals)
        elif depth == 8:
            line = bytes(int(v) for v in vals)
        else:
            line = pack_bits(vals, depth)
        raw += b"\x00" + line
    return raw


def add_png(name, samples, color_type, depth, plte=None, trns=None, interlace=False, note=""):
    """A PNG of any colour type and depth; samples [H, W, C] holds stored
    values."""
    h, w, _ = samples.shape
    if interlace:
        raw = b""
        for y0, x0, dy, dx in [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1)]:
            ys, xs = list(range(y0, h, dy)), list(range(x0, w, dx))
            if ys and xs:
                raw += png_rows(samples, depth, ys, xs)
    else:
        raw = png_rows(samples, depth, range(h), list(range(w)))
    d = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, int(interlace)))
    if plte is not None:
        d += chunk(b"PLTE", bytes(np.asarray(plte, np.uint8).reshape(-1)))
    if trns is not None:
        d += chunk(b"tRNS", trns)
    d += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    add_file(name, d, note)


def pngs():
    rgb, grey, alpha = format_photo(H, W, 1), format_photo(H, W, 2, 1), format_photo(H, W, 3, 1)
    pal = noise((256, 3), 4)
    idx = noise((H, W), 5)
    pil("png_rgb.png", Image.fromarray(rgb), format="PNG")
    pil("png_rgba.png", Image.fromarray(np.dstack([rgb, alpha])), format="PNG")
    pil("png_l.png", Image.fromarray(grey), format="PNG")
    pil("png_la.png", Image.fromarray(np.dstack([grey, alpha]), "LA"), format="PNG")
    pil("png_1.png", Image.fromarray(grey > 128), format="PNG")
    im = Image.fromarray(idx, "P")
    im.putpalette(pal.tobytes())
    pil("png_p.png", im, format="PNG")
    pil("png_p_trns.png", im, format="PNG", transparency=bytes(range(256)))
    pil("png_p_bits4.png", Image.fromarray(idx >> 4, "P"), format="PNG", bits=4)
    g = grey[:, :, None]
    add_png("png_l2.png", g >> 6, 0, 2)
    add_png("png_l4.png", g >> 4, 0, 4)
    add_png("png_l1_interlaced.png", g >> 7, 0, 1, interlace=True)
    g16 = (grey.astype(np.int64) * 2 - 60).clip(0, 65535)[:, :, None]  # around 255: clipped
    add_png("png_i16.png", g16, 0, 16, note="16-bit grey: mode I, clipped to 255")
    add_png("png_i16_big.png", (grey.astype(np.int64) * 257)[:, :, None], 0, 16, note="mostly 255")
    add_png("png_i16_trns.png", g16, 0, 16, trns=struct.pack(">H", int(g16[0, 0, 0])))
    add_png("png_l_trns.png", g, 0, 8, trns=struct.pack(">H", int(grey[0, 0])))
    add_png("png_rgb_trns.png", rgb, 2, 8, trns=struct.pack(">HHH", *map(int, rgb[0, 0])))
    rgb16 = rgb.astype(np.int64) * 256 + noise(rgb.shape, 6)
    add_png("png_rgb16.png", rgb16, 2, 16, note="high byte")
    add_png("png_rgb16_interlaced.png", rgb16, 2, 16, interlace=True)
    add_png("png_rgb16_trns.png", rgb16, 2, 16, trns=struct.pack(">HHH", *map(int, rgb16[0, 0])))
    add_png("png_rgba16.png", np.dstack([rgb16, alpha.astype(np.int64) * 257]), 6, 16)
    add_png("png_la16.png", np.dstack([grey.astype(np.int64) * 256 + 9, alpha.astype(np.int64) * 257]), 4, 16)
    add_png("png_p1.png", (idx >> 7)[:, :, None], 3, 1, plte=pal[:2])
    add_png("png_p2.png", (idx >> 6)[:, :, None], 3, 2, plte=pal[:4])
    add_png("png_p8_short_plte.png", idx[:, :, None], 3, 8, plte=pal[:40], note="indices past PLTE: grey")
    add_png("png_p4_interlaced.png", (idx >> 4)[:, :, None], 3, 4, plte=pal[:16], interlace=True)
    add_png("png_rgb_interlaced.png", rgb, 2, 8, interlace=True)
    add_png("png_one_pixel.png", rgb[:1, :1], 2, 8)


# ------------------------------------------------------------------ JPEG


def ppm_bytes(a):
    if a.ndim == 2:
        return b"P5\n%d %d\n255\n" % (a.shape[1], a.shape[0]) + a.tobytes()
    return b"P6\n%d %d\n255\n" % (a.shape[1], a.shape[0]) + a.tobytes()


def cjpeg(name, a, *args, note=""):
    out = subprocess.run(["cjpeg", *args], input=ppm_bytes(a), capture_output=True, check=True).stdout
    add_file(name, out, note)


def jpegtran(name, src, *args, note=""):
    with open(os.path.join(FORMATS, src), "rb") as f:
        data = f.read()
    out = subprocess.run(["jpegtran", *args], input=data, capture_output=True, check=True).stdout
    add_file(name, out, note)


def jpegs():
    rgb = format_photo(H, W, 11)
    big = format_photo(61, 83, 12)  # several MCUs each way, SIMD paths
    grey = format_photo(H, W, 13, 1)
    k = format_photo(H, W, 14, 1)
    jim = Image.fromarray(rgb)
    pil("jpeg_420.jpg", jim, format="JPEG", quality=85)
    pil("jpeg_422.jpg", jim, format="JPEG", quality=85, subsampling=1)
    pil("jpeg_444.jpg", jim, format="JPEG", quality=95, subsampling=0)
    pil("jpeg_q100.jpg", jim, format="JPEG", quality=100)
    pil("jpeg_big_420.jpg", Image.fromarray(big), format="JPEG", quality=90)
    pil("jpeg_big_422.jpg", Image.fromarray(big), format="JPEG", quality=90, subsampling=1)
    pil("jpeg_l.jpg", Image.fromarray(grey), format="JPEG", quality=85)
    pil("jpeg_cmyk.jpg", Image.fromarray(np.dstack([rgb, k]), "CMYK"), format="JPEG", quality=90, note="Adobe, inverted")
    pil("jpeg_progressive.jpg", Image.fromarray(big), format="JPEG", quality=80, progressive=True)
    pil("jpeg_optimized.jpg", jim, format="JPEG", quality=70, optimize=True)
    exif = Image.Exif()
    exif[0x0112] = 6
    pil("jpeg_exif_orientation6.jpg", jim, format="JPEG", quality=85, exif=exif.tobytes(), note="not rotated")
    pil("jpeg_1x1.jpg", Image.fromarray(rgb[:1, :1]), format="JPEG", quality=85)
    # What Pillow cannot write, by libjpeg-turbo's own tools.
    cjpeg("jpeg_restart.jpg", big, "-quality", "85", "-restart", "1", note="restart markers")
    cjpeg("jpeg_arithmetic.jpg", big, "-quality", "85", "-arithmetic")
    cjpeg("jpeg_440.jpg", big, "-quality", "85", "-sample", "1x2")
    cjpeg("jpeg_411.jpg", big, "-quality", "85", "-sample", "4x1")
    cjpeg("jpeg_rgb.jpg", rgb, "-quality", "90", "-rgb", note="RGB components, no YCbCr transform")
    cjpeg("jpeg_l_progressive.jpg", grey, "-quality", "90", "-progressive")
    jpegtran("jpeg_trailing_data.jpg", "jpeg_420.jpg", "-copy", "all")
    with open(os.path.join(FORMATS, "jpeg_trailing_data.jpg"), "ab") as f:
        f.write(b"\x00" * 7 + b"trailing data after EOI, as in motion photos" * 3)
    os.utime(os.path.join(FORMATS, "jpeg_trailing_data.jpg"), (MTIME, MTIME))


# ------------------------------------------------------------------ GIF


def lzw(indices, min_size):
    """GIF LZW data sub-blocks: a clear code before every code, so the
    table never grows (simple and valid)."""
    clear, end, size = 1 << min_size, (1 << min_size) + 1, min_size + 1
    acc, n, out = 0, 0, bytearray()

    def emit(code):
        nonlocal acc, n
        acc |= code << n
        n += size
        while n >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            n -= 8

    for v in indices:
        emit(clear)
        emit(int(v))
    emit(end)
    if n:
        out.append(acc & 0xFF)
    blocks = bytes([min_size])
    for i in range(0, len(out), 255):
        blocks += bytes([len(out[i:i + 255])]) + bytes(out[i:i + 255])
    return blocks + b"\0"


def table(colours):
    colours = bytes(np.asarray(colours, np.uint8).reshape(-1))
    n = len(colours) // 3
    bits = max(1, (n - 1).bit_length())
    return bits - 1, colours + b"\0" * (3 * (1 << bits) - len(colours))


def gif(name, screen, frames, global_colours=None, note="", trailer=True):
    """frames: (x, y, indices, local_colours, transparent, interlaced)."""
    d = b"GIF89a" + struct.pack("<HH", *screen)
    if global_colours is not None:
        bits, t = table(global_colours)
        d += bytes([0x80 | bits, 0, 0]) + t
    else:
        d += b"\0\0\0"
    for x, y, idx, local, trns, inter in frames:
        if trns is not None:
            d += b"\x21\xF9\x04" + bytes([1, 0, 0, trns]) + b"\0"
        flags, t = 0x40 if inter else 0, b""
        if local is not None:
            bits, t = table(local)
            flags |= 0x80 | bits
        h, w = idx.shape
        rows = list(range(h))
        if inter:
            rows = list(range(0, h, 8)) + list(range(4, h, 8)) + list(range(2, h, 4)) + list(range(1, h, 2))
        d += b"\x2C" + struct.pack("<HHHHB", x, y, w, h, flags) + t
        d += lzw(idx[rows].reshape(-1), 8)
    add_file(name, d + (b"\x3B" if trailer else b""), note)


def gifs():
    rgb = format_photo(H, W, 21)
    pal = noise((256, 3), 22)
    idx = noise((H, W), 23)
    im = Image.fromarray(idx, "P")
    im.putpalette(pal.tobytes())
    pil("gif_p.gif", im, format="GIF")
    pil("gif_p_interlaced.gif", Image.fromarray(format_photo(20, 24, 24)).convert("P"), format="GIF", interlace=True)
    pil("gif_l.gif", Image.fromarray(format_photo(H, W, 25, 1)), format="GIF", note="grey palette: mode L")
    pil("gif_trns.gif", im, format="GIF", transparency=int(idx[0, 0]))
    f2 = Image.fromarray(255 - idx, "P")
    f2.putpalette(pal.tobytes())
    buf = io.BytesIO()
    im.save(buf, format="GIF", save_all=True, append_images=[f2], duration=100)
    add_file("gif_animated.gif", buf.getvalue(), "first frame")
    small = noise((4, 5), 26, 8)
    g8 = noise((8, 3), 27)
    gif("gif_subrect.gif", (9, 7), [(2, 1, small, None, None, False)], g8, "a 5x4 frame at (2,1) of 9x7")
    gif("gif_subrect_trns.gif", (9, 7), [(3, 2, small, None, 5, False)], g8, "filled with the transparent index")
    gif("gif_grows.gif", (4, 3), [(2, 1, small, None, None, False)], g8, "frame beyond the screen: image grows")
    gif("gif_local.gif", (5, 4), [(0, 0, small, noise((8, 3), 28), None, False)], g8)
    gif("gif_local_grey.gif", (5, 4), [(0, 0, small, np.repeat(np.arange(8), 3), None, False)], g8, "grey local table: mode L")
    gif("gif_no_table.gif", (5, 4), [(0, 0, small * 30, None, None, False)], None, "no colour table: mode L")
    gif("gif_short_table.gif", (5, 4), [(0, 0, small * 31, None, None, False)], g8[:4], "indices past the table: grey")
    gif("gif_interlaced.gif", (5, 11), [(0, 0, noise((11, 5), 29, 8), None, None, True)], g8)
    gif("gif_two_gce.gif", (5, 4), [(0, 0, small, None, 3, False)], g8)
    gif("gif_no_trailer.gif", (5, 4), [(0, 0, small, None, None, False)], g8, trailer=False)


# ------------------------------------------------------------------ BMP


def bmp(name, w, h, bits, pixel_rows, palette=b"", compression=0, header=40, masks=None, top_down=False,
        colors=None, extra=b"", note=""):
    """A BMP from already-packed pixel rows (file order)."""
    data = b"".join(pixel_rows)
    if header == 12:
        info = struct.pack("<IHHHH", 12, w, h, 1, bits)
    else:
        ncol = colors if colors is not None else (len(palette) // 4 if palette else 0)
        info = struct.pack("<IiiHHIIiiII", header, w, -h if top_down else h, 1, bits, compression, len(data),
                           2835, 2835, ncol, 0)
        if header > 40:
            m = masks or (0, 0, 0, 0)
            info += struct.pack("<IIII", *m) + b"\0" * (header - 56)
    off = 14 + len(info) + len(extra) + len(palette)
    add_file(name, b"BM" + struct.pack("<IHHI", off + len(data), 0, 0, off) + info + extra + palette + data, note)


def rows_of(px, bits, stride_bits=None, top_down=False):
    h, w = px.shape[:2]
    out = []
    for y in range(h):
        if bits < 8:
            line = pack_bits(px[y], bits)
        elif bits == 8:
            line = bytes(px[y].astype(np.uint8))
        elif bits == 16:
            line = px[y].astype("<u2").tobytes()
        else:
            line = px[y].astype(np.uint8).tobytes()
        stride = ((w * (stride_bits or bits) + 31) // 32) * 4
        out.append(line + b"\0" * (stride - len(line)))
    return out if top_down else out[::-1]


def bgrx(colours):
    return b"".join(bytes([c[2], c[1], c[0], 0]) for c in colours)


def rle8(w, h, idx):
    """RLE8 with runs, absolute runs (odd length: padded), EOL, a delta and
    EOB."""
    out = bytearray()
    for y in range(h - 1, -1, -1):
        row = list(idx[y])
        if y == 2:
            out += bytes([0, 2, 3, 0])  # delta: 3 right (zeros), then the rest
            row = row[3:]
        x = 0
        while x < len(row):
            run = 1
            while x + run < len(row) and row[x + run] == row[x] and run < 255:
                run += 1
            if run >= 2:
                out += bytes([run, row[x]])
                x += run
            else:
                n = min(len(row) - x, 5)
                if n < 3:
                    out += bytes([1, row[x]])
                    x += 1
                    continue
                out += bytes([0, n]) + bytes(row[x:x + n])
                if n % 2:
                    out += b"\0"
                x += n
        out += bytes([0, 0])
    out += bytes([0, 1])
    return bytes(out)


def rle4(w, h, idx):
    """RLE4: encoded runs of alternating pixel pairs and absolute runs of
    even length."""
    out = bytearray()
    for y in range(h - 1, -1, -1):
        row = list(idx[y])
        x = 0
        while x < len(row):
            if x + 4 <= len(row) and x % 3 == 0:
                out += bytes([4, (row[x] << 4) | row[x + 1]])
                row[x + 2], row[x + 3] = row[x], row[x + 1]
                x += 4
            elif x + 4 <= len(row):
                out += bytes([0, 4, (row[x] << 4) | row[x + 1], (row[x + 2] << 4) | row[x + 3]])
                x += 4
            else:
                out += bytes([1, row[x] << 4])
                x += 1
        idx[y] = row
        out += bytes([0, 0])
    out += bytes([0, 1])
    return bytes(out)


def bmps():
    rgb = format_photo(H, W, 31)
    grey = format_photo(H, W, 32, 1)
    pal = noise((256, 3), 33)
    idx = noise((H, W), 34)
    im = Image.fromarray(idx, "P")
    im.putpalette(pal.tobytes())
    pil("bmp_p8.bmp", im, format="BMP")
    pil("bmp_rgb.bmp", Image.fromarray(rgb), format="BMP")
    pil("bmp_l.bmp", Image.fromarray(grey), format="BMP", note="grey palette: mode L")
    pil("bmp_1.bmp", Image.fromarray(grey > 120), format="BMP", note="black and white: mode 1")
    bgr = rgb[:, :, ::-1]
    bmp("bmp_24_topdown.bmp", W, H, 24, rows_of(bgr, 24, top_down=True), top_down=True)
    bmp("bmp_24_v5.bmp", W, H, 24, rows_of(bgr, 24), header=124)
    bgra = np.dstack([bgr, noise((H, W), 35)])
    bmp("bmp_32.bmp", W, H, 32, rows_of(bgra, 32), note="BGRX: alpha ignored")
    bmp("bmp_32_v4_bgra.bmp", W, H, 32, rows_of(bgra, 32), compression=3, header=108,
        masks=(0xFF0000, 0xFF00, 0xFF, 0xFF000000))
    rgba = np.dstack([rgb, noise((H, W), 36)])
    bmp("bmp_32_v5_rgba.bmp", W, H, 32, rows_of(rgba, 32), compression=3, header=124,
        masks=(0xFF, 0xFF00, 0xFF0000, 0xFF000000))
    p16 = noise((H, W), 37, 1 << 16)
    bmp("bmp_16_555.bmp", W, H, 16, rows_of(p16, 16), note="BGR;15")
    bmp("bmp_16_565.bmp", W, H, 16, rows_of(p16, 16), compression=3,
        extra=struct.pack("<III", 0xF800, 0x7E0, 0x1F), note="BGR;16, masks after the header")
    bmp("bmp_16_555_bitfields.bmp", W, H, 16, rows_of(p16, 16), compression=3,
        extra=struct.pack("<III", 0x7C00, 0x3E0, 0x1F))
    bmp("bmp_4.bmp", W, H, 4, rows_of(idx >> 4, 4), palette=bgrx(pal[:16]))
    bmp("bmp_1_colour.bmp", W, H, 1, rows_of(idx >> 7, 1), palette=bgrx(pal[:2]))
    bmp("bmp_8_short_palette.bmp", W, H, 8, rows_of(idx, 8), palette=bgrx(pal[:20]), colors=20,
        note="indices past the palette: grey")
    bmp("bmp_8_bw_palette.bmp", W, H, 8, rows_of(idx, 8), palette=bgrx([(0, 0, 0), (255, 255, 255)]), colors=2,
        note="Pillow reads an 8-bit file with a 2-colour black/white palette as 1-bit")
    bmp("bmp_os2_8.bmp", W, H, 8, rows_of(idx, 8),
        palette=b"".join(bytes([c[2], c[1], c[0]]) for c in pal), header=12, note="OS/2 1.x header")
    bmp("bmp_os2_24.bmp", W, H, 24, rows_of(bgr, 24), header=12)
    ri = noise((H, W), 38, 6)
    ri[:, 5:9] = 3
    bmp("bmp_rle8.bmp", W, H, 8, [rle8(W, H, ri)], palette=bgrx(pal[:16]), compression=1)
    ri4 = noise((H, W), 39, 16)
    data4 = rle4(W, H, ri4)
    bmp("bmp_rle4.bmp", W, H, 4, [data4], palette=bgrx(pal[:16]), compression=2)


# ------------------------------------------------------------------ WebP


def webps():
    rgb = format_photo(H, W, 41)
    alpha = format_photo(H, W, 42, 1)
    pil("webp_lossy.webp", Image.fromarray(rgb), format="WEBP", quality=80)
    pil("webp_lossy_big.webp", Image.fromarray(format_photo(45, 67, 43)), format="WEBP", quality=90)
    pil("webp_lossy_alpha.webp", Image.fromarray(np.dstack([rgb, alpha])), format="WEBP", quality=80)
    pil("webp_lossless.webp", Image.fromarray(rgb), format="WEBP", lossless=True)
    pil("webp_lossless_alpha.webp", Image.fromarray(np.dstack([rgb, alpha])), format="WEBP", lossless=True, exact=True)
    pil("webp_from_grey.webp", Image.fromarray(format_photo(H, W, 44, 1)), format="WEBP", quality=80)
    f1, f2 = Image.fromarray(rgb), Image.fromarray(255 - rgb)
    buf = io.BytesIO()
    f1.save(buf, format="WEBP", save_all=True, append_images=[f2], duration=100, quality=80)
    add_file("webp_animated.webp", buf.getvalue(), "first frame")
    for h, w in [(1, 1), (2, 3), (17, 1)]:
        pil(f"webp_lossy_{h}x{w}.webp", Image.fromarray(format_photo(h, w, 45 + h + w)), format="WEBP", quality=75)


# ------------------------------------------------------------------ TIFF


def packbits(data):
    """PackBits: runs of 3 or more repeated bytes, literals otherwise."""
    out, i = bytearray(), 0
    while i < len(data):
        j = i
        while j + 1 < len(data) and data[j + 1] == data[i] and j - i < 127:
            j += 1
        if j - i >= 2:
            out += bytes([(257 - (j - i + 1)) & 0xFF, data[i]])
            i = j + 1
            continue
        k = i
        while k < len(data) and k - i < 128 and not (k + 2 < len(data) and data[k] == data[k + 1] == data[k + 2]):
            k += 1
        out += bytes([k - i - 1]) + data[i:k]
        i = k
    return bytes(out)


def reverse_bits(data):
    return bytes(int(format(b, "08b")[::-1], 2) for b in data)


def tiff_row(vals, bits, order, fmt):
    """One row of samples (flat, pixel order) packed as stored."""
    if bits < 8:
        return pack_bits(vals, bits)
    e = "<" if order == "II" else ">"
    t = {(8, "u"): "u1", (16, "u"): "u2", (16, "i"): "i2", (32, "u"): "u4", (32, "i"): "i4", (32, "f"): "f4"}[(bits, fmt)]
    return np.asarray(vals).astype(e + t).tobytes()


def predict(row, bits, stride, order):
    """Horizontal differencing (libtiff's predictor 2) of one packed row."""
    e = "<" if order == "II" else ">"
    a = np.frombuffer(row, dtype=e + {8: "u1", 16: "u2", 32: "u4"}[bits]).astype(np.int64)
    d = a.copy()
    d[stride:] = a[stride:] - a[:-stride]
    return (d % (1 << bits)).astype(e + {8: "u1", 16: "u2", 32: "u4"}[bits]).tobytes()


def tiff(name, samples, bits, photometric, order="II", fmt="u", compression=1, predictor=1, rows_per_strip=None,
         tile=None, planar=1, extra=None, sample_format=None, colormap=None, fill_order=1, orientation=None,
         byte_counts=True, note=""):
    """A TIFF from samples [H, W, S] (stored values)."""
    h, w, s = samples.shape
    e = "<" if order == "II" else ">"
    planes = [samples[:, :, p:p + 1] for p in range(s)] if planar == 2 else [samples]
    tw, th = (w, rows_per_strip or h) if tile is None else tile
    chunks = []
    for pl in planes:
        spp = pl.shape[2]
        for ty in range(0, h, th):
            for tx in range(0, w, tw):
                block = pl[ty:ty + th, tx:tx + tw]
                if tile is not None:  # tiles are padded to full size
                    pad = np.zeros((th, tw, spp), dtype=block.dtype)
                    pad[:block.shape[0], :block.shape[1]] = block
                    block = pad
                raw = b""
                for r in block:
                    row = tiff_row(r.reshape(-1), bits, order, fmt)
                    if predictor == 2:
                        row = predict(row, bits, spp, order)
                    raw += row
                if compression == 8:
                    raw = zlib.compress(raw, 9)
                elif compression == 32773:
                    raw = packbits(raw)
                if fill_order == 2:
                    raw = reverse_bits(raw)
                chunks.append(raw)
    tags = {256: (4, [w]), 257: (4, [h]), 258: (3, [bits] * s), 259: (3, [compression]), 262: (3, [photometric]),
            277: (3, [s]), 284: (3, [planar])}
    if predictor != 1:
        tags[317] = (3, [predictor])
    if extra is not None:
        tags[338] = (3, extra)
    if sample_format is not None:
        tags[339] = (3, sample_format)
    if colormap is not None:
        tags[320] = (3, list(colormap))
    if fill_order != 1:
        tags[266] = (3, [fill_order])
    if orientation is not None:
        tags[274] = (3, [orientation])
    if tile is None:
        tags[278] = (4, [th])
    else:
        tags[322], tags[323] = (4, [tw]), (4, [th])
    off_tag, cnt_tag = (273, 279) if tile is None else (324, 325)
    # Layout: header, pixel data, then the IFD and its out-of-line values.
    data = b""
    offsets = []
    for c in chunks:
        offsets.append(8 + len(data))
        data += c + (b"\0" if len(c) % 2 else b"")
    tags[off_tag] = (4, offsets)
    if byte_counts:
        tags[cnt_tag] = (4, [len(c) for c in chunks])
    ifd_at = 8 + len(data)
    n = len(tags)
    extra_at = ifd_at + 2 + 12 * n + 4
    entries, blob = b"", b""
    for tag in sorted(tags):
        typ, vals = tags[tag]
        size = {3: 2, 4: 4}[typ]
        packed = b"".join(struct.pack(e + {3: "H", 4: "I"}[typ], int(v)) for v in vals)
        if len(packed) <= 4:
            value = packed + b"\0" * (4 - len(packed))
        else:
            value = struct.pack(e + "I", extra_at + len(blob))
            blob += packed + (b"\0" if len(packed) % 2 else b"")
        entries += struct.pack(e + "HHI", tag, typ, len(vals)) + value
    head = (b"II*\0" if order == "II" else b"MM\0*") + struct.pack(e + "I", ifd_at)
    add_file(name, head + data + struct.pack(e + "H", n) + entries + b"\0\0\0\0" + blob, note)


def tiffs():
    rgb = format_photo(H, W, 51)
    grey = format_photo(H, W, 52, 1)
    alpha = format_photo(H, W, 53, 1)
    idx = noise((H, W), 54)
    pal = noise((256, 3), 55)
    tim = Image.fromarray(rgb)
    # Pillow's writer (libtiff for the compressed ones).
    pil("tiff_rgb.tif", tim, format="TIFF")
    pil("tiff_rgb_lzw.tif", tim, format="TIFF", compression="tiff_lzw")
    pil("tiff_rgb_lzw_predictor.tif", tim, format="TIFF", compression="tiff_lzw", tiffinfo={317: 2})
    pil("tiff_rgb_deflate.tif", tim, format="TIFF", compression="tiff_adobe_deflate")
    pil("tiff_rgb_deflate_predictor.tif", tim, format="TIFF", compression="tiff_adobe_deflate", tiffinfo={317: 2})
    pil("tiff_rgb_packbits.tif", tim, format="TIFF", compression="packbits")
    pil("tiff_l.tif", Image.fromarray(grey), format="TIFF")
    pil("tiff_l_lzw_predictor.tif", Image.fromarray(grey), format="TIFF", compression="tiff_lzw", tiffinfo={317: 2})
    pil("tiff_1.tif", Image.fromarray(grey > 128), format="TIFF")
    pil("tiff_1_packbits.tif", Image.fromarray(grey > 128), format="TIFF", compression="packbits")
    g16 = (grey.astype(np.int64) * 2 - 60).clip(0, 65535).astype(np.uint16)
    pil("tiff_i16.tif", Image.fromarray(g16, "I;16"), format="TIFF", note="clipped to 255")
    pil("tiff_i16_lzw_predictor.tif", Image.fromarray(g16, "I;16"), format="TIFF", compression="tiff_lzw", tiffinfo={317: 2})
    im = Image.fromarray(idx, "P")
    im.putpalette(pal.tobytes())
    pil("tiff_p.tif", im, format="TIFF")
    pil("tiff_p_deflate.tif", im, format="TIFF", compression="tiff_adobe_deflate")
    pil("tiff_rgba.tif", Image.fromarray(np.dstack([rgb, alpha])), format="TIFF")
    pil("tiff_cmyk.tif", Image.fromarray(np.dstack([rgb, alpha]), "CMYK"), format="TIFF")
    pil("tiff_cmyk_lzw.tif", Image.fromarray(np.dstack([rgb, alpha]), "CMYK"), format="TIFF", compression="tiff_lzw")
    pil("tiff_la.tif", Image.fromarray(np.dstack([grey, alpha]), "LA"), format="TIFF")
    fl = (grey.astype(np.float32) * 1.3 - 40.5)
    pil("tiff_f.tif", Image.fromarray(fl, "F"), format="TIFF", note="truncated and clipped")
    pil("tiff_i32.tif", Image.fromarray(grey.astype(np.int32) * 3 - 200, "I"), format="TIFF")
    pil("tiff_rgb_orientation6_lzw.tif", tim, format="TIFF", compression="tiff_lzw", tiffinfo={274: 6})
    # Written here: what Pillow does not write.
    s3 = rgb.astype(np.int64)
    g1 = grey[:, :, None].astype(np.int64)
    tiff("tiff_gray2.tif", g1 >> 6, 2, 1)
    tiff("tiff_gray4_miniswhite.tif", g1 >> 4, 4, 0)
    tiff("tiff_gray8_miniswhite.tif", g1, 8, 0)
    tiff("tiff_bilevel_miniswhite.tif", g1 >> 7, 1, 0)
    tiff("tiff_gray8_be.tif", g1, 8, 1, order="MM")
    tiff("tiff_i16_be.tif", g1 * 3 - 30, 16, 1, order="MM", note="I;16B")
    tiff("tiff_i16_signed.tif", g1 * 3 - 300, 16, 1, fmt="i", sample_format=[2])
    tiff("tiff_i16_signed_be.tif", g1 * 3 - 300, 16, 1, order="MM", fmt="i", sample_format=[2])
    tiff("tiff_u32.tif", g1 * 2, 32, 1)
    tiff("tiff_i32_be.tif", g1 * 3 - 300, 32, 1, order="MM", fmt="i", sample_format=[2])
    tiff("tiff_f32_be.tif", (g1 * 1.7 - 20.25).astype(np.float32), 32, 1, order="MM", fmt="f", sample_format=[3])
    tiff("tiff_f32_miniswhite.tif", (g1 * 1.1).astype(np.float32), 32, 0, fmt="f", sample_format=[3])
    tiff("tiff_rgb_be.tif", s3, 8, 2, order="MM")
    tiff("tiff_rgb16.tif", s3 * 256 + noise(s3.shape, 56), 16, 2, note="high byte")
    tiff("tiff_rgb16_be_deflate_predictor.tif", s3 * 257, 16, 2, order="MM", compression=8, predictor=2)
    a = alpha[:, :, None].astype(np.int64)
    tiff("tiff_rgba16.tif", np.dstack([s3 * 257, a * 257]), 16, 2, extra=[2])
    tiff("tiff_rgbx.tif", np.dstack([s3, a]), 8, 2, extra=[0])
    tiff("tiff_rgba_unspecified.tif", np.dstack([s3, a]), 8, 2, note="4 samples without ExtraSamples: RGBA")
    pre = np.dstack([s3 * a // 255, a])
    pre[0, :4, 3] = 0  # alpha 0: every channel 0
    pre[1, :4, :3] = 250  # above alpha: clipped
    pre[1, :4, 3] = 100
    tiff("tiff_rgba_premultiplied.tif", pre, 8, 2, extra=[1], note="RGBa: unpremultiplied")
    tiff("tiff_rgba_premultiplied16.tif", pre * 257, 16, 2, extra=[1])
    tiff("tiff_rgbaa.tif", np.dstack([s3, a, a]), 8, 2, extra=[2, 0])
    tiff("tiff_cmyk_be.tif", np.dstack([s3, a]), 8, 5, order="MM")
    tiff("tiff_cmyk16.tif", np.dstack([s3, a]) * 257, 16, 5)
    tiff("tiff_cmyk_packbits.tif", np.dstack([s3, a]), 8, 5, compression=32773)
    tiff("tiff_la_premultiplied_absent.tif", np.dstack([g1, a]), 8, 1, extra=[2])
    tiff("tiff_pa.tif", np.dstack([idx[:, :, None], a]), 8, 3, extra=[2],
         colormap=np.concatenate([pal[:, 0], pal[:, 1], pal[:, 2]]).astype(np.int64) * 256 + 77)
    cm16 = noise((3 * 16,), 57, 65536, np.int64)
    tiff("tiff_p4.tif", (idx >> 4)[:, :, None], 4, 3, colormap=cm16, note="colour map high bytes")
    tiff("tiff_p1.tif", (idx >> 7)[:, :, None], 1, 3, colormap=noise((6,), 58, 65536, np.int64))
    tiff("tiff_strips.tif", s3, 8, 2, rows_per_strip=4, note="4 strips, the last short")
    tiff("tiff_strips_deflate.tif", s3, 8, 2, rows_per_strip=3, compression=8)
    tiff("tiff_no_byte_counts.tif", s3, 8, 2, rows_per_strip=5, byte_counts=False, note="raw strips without counts")
    tiff("tiff_tiles.tif", s3, 8, 2, tile=(16, 16), note="tiles padded at the edges")
    tiff("tiff_tiles_deflate_predictor.tif", s3, 8, 2, tile=(16, 16), compression=8, predictor=2)
    tiff("tiff_tiles_gray4.tif", g1 >> 4, 4, 1, tile=(16, 16))
    tiff("tiff_planar.tif", s3, 8, 2, planar=2)
    tiff("tiff_planar_deflate_predictor.tif", s3, 8, 2, planar=2, compression=8, predictor=2, rows_per_strip=5)
    tiff("tiff_planar_rgba16_deflate.tif", np.dstack([s3 * 257, a * 257]), 16, 2, planar=2, extra=[2], compression=8)
    # Pillow's uncompressed path reads separate 16-bit planes as 8-bit
    # samples (garbage); refused.
    tiff("tiff_planar_rgba16.tif", np.dstack([s3 * 257, a * 257]), 16, 2, planar=2, extra=[2])
    unsupported["tiff_planar_rgba16.tif"] = "separate planes of 16-bit samples"
    tiff("tiff_packbits_runs.tif", np.repeat(s3[:, :4], 5, axis=1)[:, :W], 8, 2, compression=32773)
    tiff("tiff_fillorder2_bilevel.tif", g1 >> 7, 1, 1, fill_order=2)
    tiff("tiff_fillorder2_gray4.tif", g1 >> 4, 4, 0, fill_order=2)
    tiff("tiff_fillorder2_rgb_deflate.tif", s3, 8, 2, fill_order=2, compression=8)
    for o in range(1, 9):
        tiff(f"tiff_orientation{o}.tif", s3, 8, 2, orientation=o, note="Pillow transposes TIFF on load")
    tiff("tiff_orientation8_tiles.tif", s3, 8, 2, orientation=8, tile=(16, 16))
    # Pillow reads these, but the package refuses them.
    tiff("tiff_ycbcr.tif", s3, 8, 6, compression=8)
    unsupported["tiff_ycbcr.tif"] = "YCbCr"
    tiff("tiff_lab.tif", s3, 8, 8)
    unsupported["tiff_lab.tif"] = "L*a*b*"


# ------------------------------------------------------------------ PNM


def pnms():
    rgb = format_photo(H, W, 61)
    grey = format_photo(H, W, 62, 1)
    add_file("pnm_p6.ppm", b"P6\n# comment\n%d %d\n255\n" % (W, H) + rgb.tobytes())
    add_file("pnm_p5.pgm", b"P5 %d %d 255 " % (W, H) + grey.tobytes())
    add_file("pnm_p4.pbm", b"P4\n%d %d\n" % (W, H) + np.packbits(grey < 128, axis=1).tobytes())
    add_file("pnm_p3.ppm", b"P3\n%d %d\n255\n" % (W, H) + " ".join(map(str, rgb.reshape(-1))).encode() + b"\n")
    add_file("pnm_p2.pgm", b"P2\n%d %d\n# comment\n255\n" % (W, H) + "\n".join(map(str, grey.reshape(-1))).encode())
    add_file("pnm_p2_1000.pgm", b"P2 %d %d 1000\n" % (W, H) + " ".join(str(v * 3) for v in grey.reshape(-1)).encode(),
          "mode I: scaled to 65535, then clipped")
    add_file("pnm_p1.pbm", b"P1\n%d %d\n" % (W, H) + "".join("1" if v < 128 else "0" for v in grey.reshape(-1)).encode())
    add_file("pnm_p1_spaced.pbm", b"P1\n# c\n%d %d\n" % (W, H) + " \n".join("1" if v < 100 else "0" for v in grey.reshape(-1)).encode())
    g16 = grey.astype(">u2") * 3
    add_file("pnm_p5_65535.pgm", b"P5\n%d %d\n65535\n" % (W, H) + g16.tobytes(), "I;16B, clipped")
    add_file("pnm_p5_1000.pgm", b"P5\n%d %d\n1000\n" % (W, H) + g16.tobytes(), "mode I")
    add_file("pnm_p5_15.pgm", b"P5\n%d %d\n15\n" % (W, H) + (grey >> 4).tobytes(), "round(v / 15 * 255)")
    add_file("pnm_p5_2.pgm", b"P5\n%d %d\n2\n" % (W, H) + (grey // 86).astype(np.uint8).tobytes(), "halves round to even")
    add_file("pnm_p6_1000.ppm", b"P6\n%d %d\n1000\n" % (W, H) + (rgb.astype(">u2") * 3).tobytes())
    add_file("pnm_p6_65535.ppm", b"P6\n%d %d\n65535\n" % (W, H) + (rgb.astype(">u2") * 257).tobytes())
    add_file("pnm_p6_100.ppm", b"P6\n%d %d\n100\n" % (W, H) + (rgb // 2).astype(np.uint8).tobytes(), "values above maxval clipped")


# ------------------------------------------------------------------ main


def pillow_reads(data):
    # Cut files make Pillow warn (corrupt EXIF, palette transparency): the
    # outcome is recorded, the warnings are noise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))


def digest(a):
    """sha256 of "HxW" and the RGB bytes, to compare without storing."""
    return hashlib.sha256(b"%dx%d" % (a.shape[0], a.shape[1]) + a.tobytes()).hexdigest()


def formats():
    if os.path.isdir(FORMATS):
        for f in os.listdir(FORMATS):
            os.remove(os.path.join(FORMATS, f))
    pngs()
    jpegs()
    gifs()
    bmps()
    webps()
    tiffs()
    pnms()
    index, failed = {}, []
    for name in sorted(files):
        with open(os.path.join(FORMATS, name), "rb") as f:
            data = f.read()
        try:
            with Image.open(io.BytesIO(data)) as im:
                entry = {"format": im.format, "mode": im.mode, "size": list(im.size), "note": files[name]}
            ref = pillow_reads(data)
        except Exception as e:
            failed.append(f"{name}: {e}")
            continue
        if name in unsupported:
            entry["unsupported"] = unsupported[name]
        else:
            buf = io.BytesIO()
            np.save(buf, ref)
            add_file(name.rsplit(".", 1)[0] + ".npy", buf.getvalue(), files[name])
            files.pop(name.rsplit(".", 1)[0] + ".npy")
        # Pillow's size after load (the TIFF orientation tag turns it).
        entry["size"] = [ref.shape[1], ref.shape[0]]
        cuts = {}
        for label, n in [("50%", len(data) // 2), ("90%", len(data) * 9 // 10), ("-1", len(data) - 1)]:
            try:
                got = pillow_reads(data[:n])
                cuts[label] = "ok" if np.array_equal(got, ref) else "other:" + digest(got)
            except Exception:
                cuts[label] = "error"
        entry["cut"] = cuts
        index[name] = entry
    if failed:
        sys.exit("Pillow cannot read:\n  " + "\n  ".join(failed))
    with open(os.path.join(DECODE, "index.json"), "w") as f:
        json.dump(index, f, indent=1, sort_keys=True)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(FORMATS, f)) for f in os.listdir(FORMATS))
    print(f"{len(index)} images, {total} bytes in {FORMATS}")


# ==================================================================
# Layouts (datasets/images/testdata) and resize references (backbones/pixels/testdata).


def png(path, h, w, seed):
    buf = io.BytesIO()
    Image.fromarray(photo(h, w, seed)).save(buf, format="PNG")
    write(path, buf.getvalue())


def layouts():
    """Folder trees in every layout. Same-size 8x6 PNGs, except where a
    layout is about sizes."""
    d = os.path.join(IMAGES, "layouts")
    seed = [100]

    def img(path, h=6, w=8):
        seed[0] += 1
        png(os.path.join(d, path), h, w, seed[0])

    def text(path, s):
        write(os.path.join(d, path), s.encode())

    # classes: torchvision's order rules (classes sorted; os.walk roots
    # sorted as whole paths, so "sub b" and "sub-b" sort before "sub/x";
    # extensions case-insensitive; other files ignored).
    for f in ["b_dog/z.png", "b_dog/a.png", "b_dog/sub/c.png", "b_dog/sub/x/y.png", "b_dog/sub b/d.png",
              "b_dog/sub-b/e.png", "b_dog/X.PNG", "b_dog/.hidden.png", "b_dog/B.Png",
              "a_cat/1.png", "a_cat/10.png", "a_cat/2.png", "a_cat/_u.png",
              "c bird/only.png", "C_upper/k.png"]:
        img("classes/" + f)
    text("classes/b_dog/notes.txt", "not an image\n")
    text("classes/b_dog/.DS_Store", "\0\0\0\1Bud1")
    text("classes/a_cat/readme.md", "# not an image\n")
    text("classes/toplevel.txt", "files at the top are ignored\n")
    img("classes/top.png")  # ignored too: only class folders count

    # flat: no class folders, no labels.
    for f in ["img3.png", "img1.png", "img2.png", "Img0.PNG"]:
        img("flat/" + f)
    text("flat/notes.txt", "ignored\n")

    # splits: train/, test/, val/ with the same class folders.
    for split, n in [("train", 5), ("test", 3), ("val", 2)]:
        for c in ["cat", "dog"]:
            for i in range(n):
                img(f"splits/{split}/{c}/{i:02d}.png")

    # a class subset: ImageNet-style folder names, a SCAN subset file.
    for c in ["n01", "n02", "n03", "n04"]:
        for i in range(3):
            img(f"subset/{c}/{c}_{i}.png")
    text("subset_classes.txt", "n03 third class\nn01 first class\n\n# a comment\n")

    # lists: CSV with class names, TSV with integer labels, paths relative
    # to the list file; one without labels.
    rows = [("flat/img1.png", "dog"), ("flat/img2.png", "cat"), ("classes/a_cat/1.png", "cat"), ("flat/img3.png", "")]
    text("list_names.csv", "path,label\n" + "".join(f"{p},{l}\n" for p, l in rows))
    rows = [("flat/img1.png", 2), ("flat/img2.png", 0), ("classes/a_cat/1.png", 1)]
    text("list_ints.tsv", "label\tpath\n" + "".join(f"{l}\t{p}\n" for p, l in rows))
    text("list_nolabel.csv", "path\n" + "".join(f"\"{p}\"\n" for p in ["flat/img2.png", "flat/img1.png"]))
    text("list_splits.csv", "path,label,split\n" + "".join(
        f"splits/{s}/{c}/{i:02d}.png,{c},{s}\n" for s, n in [("test", 1), ("train", 2)] for c in ["dog", "cat"] for i in range(n)))

    # mixed sizes: variable geometry.
    for i, (h, w) in enumerate([(6, 8), (6, 8), (10, 7), (6, 8), (5, 5)]):
        img(f"sizes/{'ab'[i % 2]}/{i}.png", h, w)


def torchvision_orders():
    """The samples torchvision's ImageFolder lists for each folder layout."""
    try:
        import torchvision
        from torchvision.datasets import ImageFolder
    except ImportError:
        print("torchvision not installed: the *.order.json files are kept as they are")
        return
    if not torchvision.__version__.startswith("0.14"):
        sys.exit(f"need torchvision 0.14 (Debian bookworm's python3-torchvision), found {torchvision.__version__}")
    d = os.path.join(IMAGES, "layouts")
    for name in ["classes", "subset", "splits/train", "splits/test", "sizes"]:
        root = os.path.join(d, name)
        ds = ImageFolder(root)
        out = {"classes": ds.classes, "samples": [[os.path.relpath(p, root), c] for p, c in ds.samples]}
        write(os.path.join(d, name.replace("/", "_") + ".order.json"), (json.dumps(out, indent=1) + "\n").encode())


def resize_refs():
    """Pillow resize and torchvision Resize/CenterCrop references for the
    pixels backbone."""
    d = os.path.join(PIXELS, "resize")
    index = []
    inputs = {"rgb_29x37": photo(29, 37, 21), "rgb_64x48": photo(64, 48, 22), "grey_13x9": photo(13, 9, 23, 1),
              "rgb_5x300": photo(5, 300, 24)}
    for name, a in inputs.items():
        buf = io.BytesIO(); np.save(buf, a); write(os.path.join(d, f"in_{name}.npy"), buf.getvalue())

    def out(name, arr, case):
        buf = io.BytesIO(); np.save(buf, arr); write(os.path.join(d, name), buf.getvalue())
        case["output"] = name
        index.append(case)

    # PIL's resize to explicit sizes, down and up on each axis.
    for name, a in inputs.items():
        im = Image.fromarray(a)
        h, w = a.shape[:2]
        for filt, fname in [(Image.BILINEAR, "bilinear"), (Image.BICUBIC, "bicubic")]:
            for oh, ow in [(h // 2 + 1, w // 3 + 1), (h * 2 + 3, w + 5), (h, w // 2 + 1), (7, 7)]:
                res = np.asarray(im.resize((ow, oh), filt))
                out(f"pil_{name}_{fname}_{oh}x{ow}.npy", res, {"input": f"in_{name}.npy", "filter": fname, "height": oh, "width": ow})
    # torchvision Resize(int) (+ CenterCrop(int)) on PIL images: bilinear
    # with antialias, the short side to size, the long side truncated.
    try:
        import torchvision
        from torchvision import transforms as T
    except ImportError:
        print("torchvision not installed: resize references from torchvision are kept as they are")
    else:
        for name, a in inputs.items():
            im = Image.fromarray(a)
            for size, crop in [(16, 0), (16, 16), (40, 32), (20, 24), (3, 0)]:
                ts = [T.Resize(size)]
                if crop:
                    ts.append(T.CenterCrop(crop))
                res = np.asarray(T.Compose(ts)(im))
                out(f"tv_{name}_resize{size}_crop{crop}.npy", res,
                    {"input": f"in_{name}.npy", "torchvision": True, "resize": size, "center_crop": crop})
    write(os.path.join(d, "index.json"), (json.dumps(index, indent=1) + "\n").encode())


if __name__ == "__main__":
    formats()
    layouts()
    torchvision_orders()
    resize_refs()
    print("fixtures written under", DECODE, IMAGES, "and", PIXELS)
