#!/usr/bin/env bash
# How fast clusterlab decodes JPEGs, side by side with Pillow 9.4
# (np.asarray(Image.open(f).convert("RGB")), as torchvision's ImageFolder
# loads an image) on the same files, in one table; and whether the pixels
# agree.
#
#   bench/decode_compare.sh                 # 2000 synthetic 256x256 JPEGs
#   N=5000 SIZE=224 REPEAT=5 bench/decode_compare.sh
#   DATA=path/to/folder/of/jpegs bench/decode_compare.sh
#
# Rows, each timed REPEAT times over all the files (best and median rate):
#   - clusterlab's decoder (datasets/images/decode: libjpeg-turbo through
#     cgo) in process on a pool of one worker per core (GOMAXPROCS), each
#     reading a file, Probe, DecodeInto: what the images plugin does per
#     image, without batching and the plugin protocol;
#   - the images dataset plugin as the runner reads it (its own process,
#     batches of about 1 MiB sent over the plugin protocol; Read timed,
#     Describe apart);
#   - the standard library's image/jpeg in process on every core (the
#     pure-Go alternative);
#   - Pillow in one process, and on a multiprocessing pool of one process
#     per core twice: workers returning only each image's shape (the
#     decoding alone: no pixels reach the parent), and workers returning
#     the arrays to the parent in order (imap, chunks of about 1 MiB of
#     pixels), which is what a PyTorch DataLoader with workers pays and
#     the fair match for the plugin row.
# The pixel columns compare each decoder's first REF_N images with
# Pillow's, and the sha256 of all pixels in order. Needs Go, gcc with
# libjpeg-turbo's headers (libjpeg62-turbo-dev) and /usr/bin/python3 with
# Pillow and NumPy (python3-pil, python3-numpy; installed when missing and
# running as root). Temporary files live in one mktemp folder, removed on
# exit.
set -euo pipefail

N=${N:-2000}
SIZE=${SIZE:-256}
REPEAT=${REPEAT:-3}
REF_N=${REF_N:-200}
DATA=${DATA:-}
cmdline="N=$N SIZE=$SIZE REPEAT=$REPEAT REF_N=$REF_N${DATA:+ DATA=$DATA} $0 $*"
. "$(dirname "$0")/lib.sh"
if ! "$PY" -c "import PIL, numpy" 2>/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "decode_compare: installing python3-pil python3-numpy" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pil python3-numpy >/dev/null
fi
bench_setup decode_compare PIL python3-pil

echo "building the images plugin and bench/decode_run" >&2
go build -o "$tmp/clusterlab-dataset-images" ./datasets/images
go build -o "$tmp/decode_run" ./bench/decode_run
if [ -z "$DATA" ]; then
    echo "writing $N ${SIZE}x${SIZE} JPEGs" >&2
    "$PY" bench/decode_pillow.py make --out "$tmp/jpegs" --n "$N" --size "$SIZE"
    DATA=$tmp/jpegs
fi
bytes=$(du -sb "$DATA" | cut -f1)

load0=$(cut -d' ' -f1-3 /proc/loadavg)
# Warm the page cache so that every contender reads from memory.
cat "$DATA"/* >/dev/null
echo "running Pillow ..." >&2
py_json=$("$PY" bench/decode_pillow.py time --root "$DATA" --repeat "$REPEAT" --ref-out "$tmp/pillow.npy" --ref-n "$REF_N")
echo "running clusterlab's decoder in process ..." >&2
dec_json=$("$tmp/decode_run" -mode decode -root "$DATA" -repeat "$REPEAT" -ref "$tmp/pillow.npy")
echo "running the images plugin ..." >&2
plugin_json=$("$tmp/decode_run" -mode plugin -plugin "$tmp/clusterlab-dataset-images" -root "$DATA" -repeat "$REPEAT" -ref "$tmp/pillow.npy")
echo "running image/jpeg ..." >&2
std_json=$("$tmp/decode_run" -mode gostd -root "$DATA" -repeat "$REPEAT" -ref "$tmp/pillow.npy")
load1=$(cut -d' ' -f1-3 /proc/loadavg)

echo "command: $cmdline"
echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(go version | cut -d' ' -f3), Pillow $("$PY" -c 'import PIL; print(PIL.__version__)'), libjpeg-turbo $(dpkg-query -W -f='${Version}' libjpeg62-turbo 2>/dev/null || echo '?'); load average before $load0, after $load1"
"$PY" - "$py_json" "$dec_json" "$plugin_json" "$std_json" "$bytes" <<'PYEOF'
import json, sys
p, d, g, s = (json.loads(a) for a in sys.argv[1:5])
n = p["images"]
print(f"{n} JPEGs of {p['size']} ({int(sys.argv[5]) / n / 1024:.1f} KiB each on average), {d['cores']} cores; images per second, higher is better; {len(d['run_seconds'])} runs each")
print(f"| contender | best images/s | median images/s | seconds per run | CPU ms per image | pixels vs Pillow (first {d['ref_images']} images) | sha256 of all pixels = Pillow's |")
print("|---|---|---|---|---|---|---|")
def px(r):
    if r["max_abs_diff"] == 0:
        return "identical"
    return f"max abs diff {r['max_abs_diff']}, mean {r['mean_abs_diff']:.3f}, {100 * r['differ_fraction']:.1f}% of values differ"
def row(name, r, pixels="reference", same="-"):
    runs = " ".join(f"{x:.2f}" for x in r["run_seconds"])
    print(f"| {name} | {r['best_images_per_second']:.0f} | {r['median_images_per_second']:.0f} | {runs} | {1000 * r['cpu_seconds_per_image']:.2f} | {pixels} | {same} |")
row(f"clusterlab decode (libjpeg-turbo via cgo), in process, {d['cores']} workers", d, px(d), d["sha256"] == p["sha256"])
row(f"clusterlab images plugin, {g['cores']} cores, over the plugin protocol (Describe {g['describe_seconds']:.2f} s apart; the receiving side's CPU {1000 * g['runner_cpu_seconds_per_image']:.2f} ms per image more)", g, px(g), g["sha256"] == p["sha256"])
row(f"Go image/jpeg, in process, {s['cores']} workers", s, px(s), s["sha256"] == p["sha256"])
row(f"Pillow {p['pillow']}, one process", p["one_process"])
row(f"Pillow {p['pillow']}, multiprocessing Pool({p['pool_processes']}), workers return only the shape (no pixels reach the parent)", p["pool"])
t = p["pool_transfer"]
row(f"Pillow {p['pillow']}, multiprocessing Pool({p['pool_processes']}), arrays returned to the parent in order (imap, chunksize {t['chunksize']}; the parent's CPU {1000 * t['parent_cpu_seconds_per_image']:.2f} ms per image more)", t)
best = p["pool"]["median_images_per_second"]
tr = t["median_images_per_second"]
print(f"median rates: clusterlab decode / Pillow Pool shape-only: {d['median_images_per_second'] / best:.2f}x; "
      f"plugin / Pillow Pool shape-only: {g['median_images_per_second'] / best:.2f}x; "
      f"plugin / Pillow Pool with transfer: {g['median_images_per_second'] / tr:.2f}x; "
      f"plugin / clusterlab decode in process: {g['median_images_per_second'] / d['median_images_per_second']:.2f}x")
print("CPU ms per image: the decoding process's user + system time over the timed runs (the plugin's: decoding, batching, sending; the pool's: its workers'), steadier than wall time on a busy machine.")
PYEOF
