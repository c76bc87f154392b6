"""Reads TensorBoard event files with classes protoc generated from
TensorBoard's event.proto and summary.proto, independently of the Go
package under test, and prints what it finds as JSON.

Usage: python3 read_events.py GENERATED_DIR EVENT_FILE...

GENERATED_DIR holds protoc --python_out output for testdata/proto (with
__init__.py files, so that it wins over an installed tensorboard package).
The TFRecord framing and its masked CRC32C checksums are checked here with
a CRC32C written from the definition, not taken from the Go code. For each
file the output says how reading ended: "eof" (clean), "truncated" (cut
short mid-record: what a killed writer leaves) or "corrupt" (a checksum
mismatch, or data that does not parse as an Event), with the records read
before.
"""

import base64
import json
import math
import struct
import sys

GENERATED = sys.argv[1]
sys.path.insert(0, GENERATED)

from tensorboard.compat.proto import event_pb2  # noqa: E402
from tensorboard.compat.proto import summary_pb2  # noqa: E402
from tensorboard.compat.proto import types_pb2  # noqa: E402


def _crc_table():
    poly = 0x82F63B78  # Castagnoli, bit-reversed
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# The check value of CRC-32C (RFC 3720): a wrong table fails here, not in
# a confusing mismatch later.
assert crc32c(b"123456789") == 0xE3069283, "crc32c self-check failed"


def unknown_fields(msg):
    """Counts fields the .proto does not define, in msg and its children:
    a wrong field number or wire type in the writer shows up here."""
    try:
        from google.protobuf import unknown_fields as uf  # protobuf >= 4.22

        n = len(uf.UnknownFieldSet(msg))
    except ImportError:
        n = len(msg.UnknownFields())
    for fd, value in msg.ListFields():
        if fd.type != fd.TYPE_MESSAGE:
            continue
        if fd.label == fd.LABEL_REPEATED:
            n += sum(unknown_fields(v) for v in value)
        else:
            n += unknown_fields(value)
    return n


def num(x):
    # JSON has no NaN or infinity.
    return x if math.isfinite(x) else repr(x)


def tensorboard_buckets(h):
    """The [left, right, count] buckets TensorBoard draws for a legacy
    HistogramProto: the steps of tensorboard/data_compat.py
    _migrate_histogram_value (TensorBoard itself is not installable here)."""
    counts = list(h.bucket)
    n = len(counts)
    start = next((i for i in range(n) if counts[i] > 0), n)
    end = next((i for i in range(n - 1, -1, -1) if counts[i] > 0), -1)
    lefts = list(h.bucket_limit[start:end])
    rights = list(h.bucket_limit[start:end])
    counts = counts[start : end + 1]
    if start <= end:
        lefts = [h.min] + lefts
        rights = rights + [h.max]
    return [[num(a), num(b), num(c)] for a, b, c in zip(lefts, rights, counts)]


def value_json(v):
    out = {"tag": v.tag, "kind": v.WhichOneof("value")}
    if v.HasField("metadata"):
        out["plugin_name"] = v.metadata.plugin_data.plugin_name
        out["plugin_content"] = base64.b64encode(v.metadata.plugin_data.content).decode()
        out["data_class"] = summary_pb2.DataClass.Name(v.metadata.data_class)
    kind = out["kind"]
    if kind == "simple_value":
        out["simple_value"] = num(v.simple_value)
    elif kind == "image":
        out["image"] = {
            "height": v.image.height,
            "width": v.image.width,
            "colorspace": v.image.colorspace,
            "png": base64.b64encode(v.image.encoded_image_string).decode(),
        }
    elif kind == "histo":
        h = v.histo
        out["histo"] = {
            "min": num(h.min),
            "max": num(h.max),
            "num": num(h.num),
            "sum": num(h.sum),
            "sum_squares": num(h.sum_squares),
            "bucket_limit": [num(x) for x in h.bucket_limit],
            "bucket": [num(x) for x in h.bucket],
            "tensorboard_buckets": tensorboard_buckets(h),
        }
    elif kind == "tensor":
        t = v.tensor
        out["tensor"] = {
            "dtype": types_pb2.DataType.Name(t.dtype),
            "has_shape": t.HasField("tensor_shape"),
            "shape": [d.size for d in t.tensor_shape.dim],
            "string_val": [s.decode("utf-8") for s in t.string_val],
        }
    return out


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    records = []
    off = 0
    end, detail = "eof", ""
    while off < len(data):
        if len(data) - off < 12:
            end, detail = "truncated", "header cut at offset %d" % off
            break
        header = data[off : off + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", data[off + 8 : off + 12])
        if masked_crc(header) != length_crc:
            end, detail = "corrupt", "length crc mismatch at offset %d" % off
            break
        if len(data) - off - 12 < length + 4:
            end, detail = "truncated", "record cut at offset %d" % off
            break
        payload = data[off + 12 : off + 12 + length]
        (data_crc,) = struct.unpack("<I", data[off + 12 + length : off + 16 + length])
        if masked_crc(payload) != data_crc:
            end, detail = "corrupt", "data crc mismatch at offset %d" % off
            break
        event = event_pb2.Event()
        try:
            event.ParseFromString(payload)
        except Exception as e:  # DecodeError, whose module path varies by version
            end, detail = "corrupt", "not an Event at offset %d: %s" % (off, e)
            break
        rec = {
            "offset": off,
            "wall_time": event.wall_time,
            "step": event.step,
            "what": event.WhichOneof("what"),
            "unknown_fields": unknown_fields(event),
        }
        if rec["what"] == "file_version":
            rec["file_version"] = event.file_version
            rec["source_writer"] = event.source_metadata.writer
        elif rec["what"] == "summary":
            rec["values"] = [value_json(v) for v in event.summary.value]
        records.append(rec)
        off += 16 + length
    return {"path": path, "records": records, "end": end, "detail": detail}


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: read_events.py GENERATED_DIR EVENT_FILE...")
    json.dump([read(p) for p in sys.argv[2:]], sys.stdout, allow_nan=False)


main()
