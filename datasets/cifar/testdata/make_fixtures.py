#!/usr/bin/python3
"""Writes tiny CIFAR-10 and CIFAR-100 archives in both versions, exactly as
distributed, for the tests of the cifar dataset plugin.

    /usr/bin/python3 datasets/cifar/testdata/make_fixtures.py [OUTPUT_DIR]

Needs only Python 3 with NumPy (Debian: python3-numpy). The output is
deterministic; the tests check the committed files against the formulas
below (pixel, label), so keep pixel() and the label functions in step with
fixtures_test.go.

What is written, beside this script unless OUTPUT_DIR is given:
  cifar-10-binary.tar.gz   cifar-10-batches-bin/ data_batch_1..5.bin, test_batch.bin, batches.meta.txt
  cifar-10-python.tar.gz   cifar-10-batches-py/  data_batch_1..5, test_batch, batches.meta, readme.html
  cifar-100-binary.tar.gz  cifar-100-binary/     train.bin, test.bin, fine_label_names.txt, coarse_label_names.txt
  cifar-100-python.tar.gz  cifar-100-python/     train, test, meta
  pickles/batch_p{0,2,3,4,5}.pickle  one CIFAR-10-style batch of 2 images as
      Python 3's own pickle module writes it at each protocol, with NumPy
      variations (NumPy integer labels, a label array, bytes keys, a 4-D
      and a Fortran-ordered data array), to test the pickle decoder on what
      real Python writes.

The python version's pickles were written by Python 2's cPickle with
protocol 2: dict keys and the pixel data are Python 2 str, which is
SHORT_BINSTRING/BINSTRING, and arrays are rebuilt with
numpy.core.multiarray._reconstruct. Python 3's pickle module writes bytes
differently in protocol 2 (through _codecs.encode), so the distributed
files are emitted opcode by opcode below (Py2Pickler) and each one is
checked by loading it back with pickle.load(f, encoding="latin1"), as
torchvision does, and with encoding="bytes".
"""

import io
import os
import pickle
import struct
import sys
import tarfile
import gzip

import numpy as np

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
MTIME = 1243987200  # fixed, for deterministic archives (2009-06-03)

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR100_FINE = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can "
    "castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin "
    "elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster "
    "man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck "
    "pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk "
    "skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger "
    "tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm"
).split()
CIFAR100_COARSE = (
    "aquatic_mammals fish flowers food_containers fruit_and_vegetables household_electrical_devices "
    "household_furniture insects large_carnivores large_man-made_outdoor_things large_natural_outdoor_scenes "
    "large_omnivores_and_herbivores medium_mammals non-insect_invertebrates people reptiles small_mammals trees "
    "vehicles_1 vehicles_2"
).split()
# Superclass of each fine class.
FINE_TO_COARSE = [
    4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11, 6, 11, 5, 10, 7, 6, 13, 15, 3, 15,
    0, 11, 1, 10, 12, 14, 16, 9, 11, 5, 5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4, 17, 4, 2, 0, 17, 4, 18, 17,
    10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13, 15, 13, 16, 19, 2, 4, 6, 19, 5, 5, 8, 19,
    18, 1, 2, 15, 6, 0, 17, 8, 14, 13,
]
assert len(CIFAR100_FINE) == 100 and len(CIFAR100_COARSE) == 20 and len(FINE_TO_COARSE) == 100

# Sizes: CIFAR-10 has five train batches and one test batch, all of the same
# size (10000 as distributed); CIFAR-100 one train and one test file.
C10_PER_BATCH = 6
C100_TRAIN, C100_TEST = 30, 10

# Image k of a dataset (train images first, then test images) in the
# file's channel-planar layout: [channel, y, x].
def pixel(dataset_salt, k, c, y, x):
    return (dataset_salt + k * 37 + c * 85 + y * 7 + x * 3 + (x * y) % 11) % 256


def images(dataset_salt, first, n):
    k = np.arange(first, first + n).reshape(n, 1, 1, 1)
    c = np.arange(3).reshape(1, 3, 1, 1)
    y = np.arange(32).reshape(1, 1, 32, 1)
    x = np.arange(32).reshape(1, 1, 1, 32)
    return pixel(dataset_salt, k, c, y, x).astype(np.uint8).reshape(n, 3072)


C10_SALT, C100_SALT = 0, 101


def c10_label(k):  # k counts train images, then test images
    return (k * 7 + 3) % 10


def c100_fine(k):
    return (k * 37 + 5) % 100


class Py2Pickler:
    """Emits pickles the way Python 2's cPickle.dump(obj, f, 2) does for the
    CIFAR dicts: str as SHORT_BINSTRING/BINSTRING, ints as BININT1/2/BININT,
    lists and dicts in batches of 1000 (APPENDS/SETITEMS), every container,
    string and global memoized (BINPUT, LONG_BINPUT past 255) and repeated
    strings and globals fetched back (BINGET)."""

    def __init__(self):
        self.out = bytearray(b"\x80\x02")
        self.memo = {}

    def put(self, key=None):
        i = len(self.memo)
        self.memo[key if key is not None else ("anon", i)] = i
        self.out += b"q" + bytes([i]) if i < 256 else b"r" + struct.pack("<I", i)

    def get(self, key):
        i = self.memo.get(key)
        if i is None:
            return False
        self.out += b"h" + bytes([i]) if i < 256 else b"j" + struct.pack("<I", i)
        return True

    def str(self, b):
        if isinstance(b, str):
            b = b.encode("latin1")
        if len(b) > 1 and self.get(("str", b)):
            return
        if len(b) < 256:
            self.out += b"U" + bytes([len(b)]) + b
        else:
            self.out += b"T" + struct.pack("<i", len(b)) + b
        if len(b) > 1:
            self.put(("str", b))

    def int(self, v):
        if 0 <= v < 256:
            self.out += b"K" + bytes([v])
        elif 0 <= v < 65536:
            self.out += b"M" + struct.pack("<H", v)
        else:
            self.out += b"J" + struct.pack("<i", v)

    def glob(self, module, name):
        if self.get(("global", module, name)):
            return
        self.out += b"c" + module.encode() + b"\n" + name.encode() + b"\n"
        self.put(("global", module, name))

    def value(self, v):
        if isinstance(v, (bytes, str)):
            self.str(v)
        elif isinstance(v, bool):
            self.out += b"\x88" if v else b"\x89"
        elif isinstance(v, int):
            self.int(v)
        elif isinstance(v, list):
            self.out += b"]"
            self.put()
            for i in range(0, len(v), 1000):
                chunk = v[i:i + 1000]
                if len(chunk) == 1:
                    self.value(chunk[0])
                    self.out += b"a"
                else:
                    self.out += b"("
                    for it in chunk:
                        self.value(it)
                    self.out += b"e"
        elif isinstance(v, dict):
            self.out += b"}"
            self.put()
            items = list(v.items())
            for i in range(0, len(items), 1000):
                self.out += b"("
                for k, val in items[i:i + 1000]:
                    self.value(k)
                    self.value(val)
                self.out += b"u"
        elif isinstance(v, np.ndarray):
            self.ndarray(v)
        else:
            raise TypeError(type(v))

    def tuple(self, items):
        if len(items) <= 3:
            for it in items:
                self.value(it)
            self.out += [b")", b"\x85", b"\x86", b"\x87"][len(items)]
        else:
            self.out += b"("
            for it in items:
                self.value(it)
            self.out += b"t"
        self.put()

    def ndarray(self, a):
        assert a.dtype == np.uint8 and a.flags.c_contiguous
        # numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), 'b')
        self.glob("numpy.core.multiarray", "_reconstruct")
        self.glob("numpy", "ndarray")
        self.tuple([0])
        self.str(b"b")
        self.out += b"\x87"
        self.put()
        self.out += b"R"
        self.put()
        # BUILD state: (1, shape, dtype, is_fortran, data)
        self.out += b"("
        self.int(1)
        self.tuple(list(a.shape))
        self.glob("numpy", "dtype")
        self.str(b"u1")
        self.int(0)
        self.int(1)
        self.out += b"\x87"
        self.put()
        self.out += b"R"
        self.put()
        self.out += b"("  # dtype state: (3, '|', None, None, None, -1, -1, 0)
        self.int(3)
        self.str(b"|")
        self.out += b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff"
        self.int(0)
        self.out += b"t"
        self.put()
        self.out += b"b"
        self.out += b"\x89"  # not Fortran-ordered
        self.str(a.tobytes())
        self.out += b"t"
        self.put()
        self.out += b"b"

    def dumps(self, obj):
        self.value(obj)
        self.out += b"."
        return bytes(self.out)


def py2_pickle(obj):
    blob = Py2Pickler().dumps(obj)
    check_loads(blob, obj)
    return blob


def check_loads(blob, obj):
    """The pickle must load in Python 3 as torchvision loads it, and equal obj."""
    text = pickle.loads(blob, encoding="latin1")
    raw = pickle.loads(blob, encoding="bytes")
    for got, key in ((text, lambda k: k), (raw, lambda k: k.encode("latin1"))):
        assert isinstance(got, dict) and len(got) == len(obj), got.keys()
        for k, v in obj.items():
            g = got[key(k)]
            if isinstance(v, np.ndarray):
                assert isinstance(g, np.ndarray) and g.dtype == v.dtype and g.shape == v.shape and np.array_equal(g, v)
            elif isinstance(v, list) and v and isinstance(v[0], str):
                want = v if got is text else [s.encode("latin1") for s in v]
                assert g == want, (k, g[:3])
            elif isinstance(v, str):
                assert g == (v if got is text else v.encode("latin1")), (k, g)
            else:
                assert g == v, (k, g, v)


def add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = MTIME
    info.mode = 0o644
    info.uname = info.gname = "cifar"
    tar.addfile(info, io.BytesIO(data))


def write_archive(name, folder, members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        d = tarfile.TarInfo(folder)
        d.type = tarfile.DIRTYPE
        d.mode = 0o755
        d.mtime = MTIME
        d.uname = d.gname = "cifar"
        tar.addfile(d)
        for member, data in members:
            add(tar, folder + "/" + member, data)
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as gz:
        gz.write(buf.getvalue())
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(out.getvalue())
    print("wrote %s (%d bytes)" % (name, len(out.getvalue())))


def binary_records(label_columns, data):
    labels = np.stack(label_columns, axis=1).astype(np.uint8)
    return np.concatenate([labels, data], axis=1).tobytes()


def cifar10():
    batches = []  # (images, labels) of data_batch_1..5, then test_batch
    for b in range(6):
        first = b * C10_PER_BATCH
        data = images(C10_SALT, first, C10_PER_BATCH)
        labels = [c10_label(k) for k in range(first, first + C10_PER_BATCH)]
        batches.append((data, labels))
    names = ["data_batch_%d" % (b + 1) for b in range(5)] + ["test_batch"]

    # Binary: <1 x label><3072 x pixel> records; names one per line, and
    # a blank line at the end as in the original.
    members = [("batches.meta.txt", ("\n".join(CIFAR10_NAMES) + "\n\n").encode())]
    for name, (data, labels) in zip(names, batches):
        members.append((name + ".bin", binary_records([labels], data)))
    # The original lists the test batch and the meta file in another order.
    write_archive("cifar-10-binary.tar.gz", "cifar-10-batches-bin", members[1:] + members[:1])

    # Python: pickled dicts, keys as in the original.
    members = [("readme.html", b"<html><body>CIFAR-10 python version (test fixture)</body></html>\n")]
    meta = {"num_cases_per_batch": C10_PER_BATCH, "label_names": CIFAR10_NAMES, "num_vis": 3072}
    for b, (name, (data, labels)) in enumerate(zip(names, batches)):
        label = "testing batch 1 of 1" if b == 5 else "training batch %d of 5" % (b + 1)
        files = ["img_%05d.png" % (b * C10_PER_BATCH + i) for i in range(C10_PER_BATCH)]
        members.append((name, py2_pickle({"data": data, "labels": labels, "batch_label": label, "filenames": files})))
    members.append(("batches.meta", py2_pickle(meta)))
    # Batches out of order, as tar lists them in the original.
    order = ["data_batch_4", "readme.html", "test_batch", "data_batch_3", "batches.meta", "data_batch_2", "data_batch_5", "data_batch_1"]
    by_name = dict(members)
    write_archive("cifar-10-python.tar.gz", "cifar-10-batches-py", [(n, by_name[n]) for n in order])
    return batches


def cifar100():
    splits = {}
    for split, first, n in (("train", 0, C100_TRAIN), ("test", C100_TRAIN, C100_TEST)):
        data = images(C100_SALT, first, n)
        fine = [c100_fine(k) for k in range(first, first + n)]
        coarse = [FINE_TO_COARSE[f] for f in fine]
        splits[split] = (data, fine, coarse)

    members = [
        ("coarse_label_names.txt", ("\n".join(CIFAR100_COARSE) + "\n").encode()),
        ("fine_label_names.txt", ("\n".join(CIFAR100_FINE) + "\n").encode()),
    ]
    for split in ("test", "train"):
        data, fine, coarse = splits[split]
        members.append((split + ".bin", binary_records([coarse, fine], data)))  # coarse byte, then fine
    write_archive("cifar-100-binary.tar.gz", "cifar-100-binary", members)

    members = [("meta", py2_pickle({"fine_label_names": CIFAR100_FINE, "coarse_label_names": CIFAR100_COARSE}))]
    for split in ("test", "train"):
        data, fine, coarse = splits[split]
        n = len(fine)
        obj = {
            "filenames": ["img_%05d.png" % i for i in range(n)],
            "batch_label": "%sing batch 1 of 1" % ("train" if split == "train" else "test"),
            "fine_labels": fine,
            "coarse_labels": coarse,
            "data": data,
        }
        members.append((split, py2_pickle(obj)))
    write_archive("cifar-100-python.tar.gz", "cifar-100-python", members)


def pickle_variants(batches):
    """The first two CIFAR-10 train images as Python 3 itself pickles a
    batch dict, one file per protocol, with NumPy variations."""
    os.makedirs(os.path.join(OUT, "pickles"), exist_ok=True)
    data, labels = batches[0][0][:2], batches[0][1][:2]
    variants = {
        0: {"data": data, "labels": list(labels), "batch_label": "p0"},
        2: {"data": data, "labels": [np.int64(x) for x in labels], "batch_label": "p2"},
        3: {"data": data.reshape(2, 3, 32, 32), "labels": np.array(labels, dtype=np.uint8), "batch_label": b"p3"},
        4: {b"data": data, b"labels": np.array(labels, dtype=">i4"), b"batch_label": b"p4"},
        5: {"data": np.asfortranarray(data), "labels": np.array(labels, dtype=np.int16), "batch_label": "p5"},
    }
    for proto, obj in variants.items():
        blob = pickle.dumps(obj, protocol=proto)
        back = pickle.loads(blob)
        assert np.array_equal(np.asarray(back.get("data", back.get(b"data"))).reshape(2, 3072), data)
        name = "pickles/batch_p%d.pickle" % proto
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(blob)
        print("wrote %s (%d bytes)" % (name, len(blob)))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    batches = cifar10()
    cifar100()
    pickle_variants(batches)
