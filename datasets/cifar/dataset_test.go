package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/internal/testarchive"
	"github.com/clusterlab/clusterlab/internal/testbin"
	"github.com/clusterlab/clusterlab/plugins"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

// member is one file of a CIFAR folder or archive written by a test.
type member struct {
	name string
	data []byte
}

// c10BinaryMembers is a small CIFAR-10 binary version: n images per batch.
func c10BinaryMembers(n int) []member {
	ms := []member{{"batches.meta.txt", []byte(strings.Join(cifar10Names, "\n") + "\n\n")}}
	l := layouts[0]
	for b, name := range append(append([]string(nil), l.train...), l.test...) {
		labels := make([]byte, n)
		for i := range labels {
			labels[i] = byte((b + i) % 10)
		}
		ms = append(ms, member{name, binaryRecords([][]byte{labels}, planar(n, b))})
	}
	return ms
}

// c100BinaryMembers is a small CIFAR-100 binary version.
func c100BinaryMembers(train, test int) []member {
	fine, coarse := make([]string, 100), make([]string, 20)
	for i := range fine {
		fine[i] = "fine" + string(rune('a'+i/26)) + string(rune('a'+i%26))
	}
	for i := range coarse {
		coarse[i] = "coarse" + string(rune('a'+i))
	}
	split := func(n, salt int) []byte {
		f, c := make([]byte, n), make([]byte, n)
		for i := range n {
			f[i] = byte((i*13 + salt) % 100)
			c[i] = byte(fineToCoarse[f[i]])
		}
		return binaryRecords([][]byte{c, f}, planar(n, salt))
	}
	return []member{
		{"fine_label_names.txt", []byte(strings.Join(fine, "\n") + "\n")},
		{"coarse_label_names.txt", []byte(strings.Join(coarse, "\n") + "\n")},
		{"train.bin", split(train, 1)},
		{"test.bin", split(test, 2)},
	}
}

func writeFolder(t *testing.T, dir string, ms []member) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if err := os.WriteFile(filepath.Join(dir, m.name), m.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// writeTarGz writes an archive whose members are folder/name.
func writeTarGz(t *testing.T, path, folder string, ms []member) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, m := range ms {
		name := m.name
		if folder != "" {
			name = folder + "/" + m.name
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(m.data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(m.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// replace returns ms with the member called name replaced (or removed when
// data is nil).
func replace(ms []member, name string, data []byte) []member {
	var out []member
	for _, m := range ms {
		if m.name == name {
			if data == nil {
				continue
			}
			m.data = data
		}
		out = append(out, m)
	}
	return out
}

func describeErr(opts core.Options) error {
	_, err := Dataset{}.Describe(context.Background(), opts)
	return err
}

func TestBinaryFolderErrors(t *testing.T) {
	good := c10BinaryMembers(4)
	folder := func(t *testing.T, ms []member) string {
		return writeFolder(t, filepath.Join(t.TempDir(), "cifar-10-batches-bin"), ms)
	}
	t.Run("valid", func(t *testing.T) {
		dir := folder(t, good)
		info, err := Dataset{}.Describe(context.Background(), core.Options{"root": dir})
		if err != nil {
			t.Fatal(err)
		}
		if tr, _ := info.Split(core.SplitTrain); tr.Count != 20 {
			t.Errorf("train count %d", tr.Count)
		}
	})
	t.Run("record size", func(t *testing.T) {
		bad := append(append([]byte(nil), good[2].data...), 0)
		dir := folder(t, replace(good, "data_batch_2.bin", bad))
		plugintest.WantInvalid(t, "extra byte", describeErr(core.Options{"root": dir}),
			filepath.Join(dir, "data_batch_2.bin"), "at byte offset 12292", "not a whole number of 3073-byte records")
	})
	t.Run("batch count", func(t *testing.T) {
		dir := folder(t, replace(good, "data_batch_3.bin", good[3].data[:3*3073]))
		plugintest.WantInvalid(t, "short batch", describeErr(core.Options{"root": dir}),
			filepath.Join(dir, "data_batch_3.bin"), "holds 3 images but", "data_batch_1.bin holds 4", "same number")
	})
	t.Run("label out of range", func(t *testing.T) {
		bad := append([]byte(nil), good[6].data...)
		bad[2*3073] = 10
		dir := folder(t, replace(good, "test_batch.bin", bad))
		plugintest.WantInvalid(t, "label 10", describeErr(core.Options{"root": dir}),
			filepath.Join(dir, "test_batch.bin"), "at byte offset 6146", "label 10 of image 2 is not below the number of classes, 10", "batches.meta.txt")
	})
	t.Run("missing file", func(t *testing.T) {
		dir := folder(t, replace(good, "data_batch_5.bin", nil))
		plugintest.WantInvalid(t, "missing", describeErr(core.Options{"root": dir}), "folder "+dir+" has no data_batch_5.bin", "cifar-10-binary.tar.gz")
	})
	t.Run("blank class name", func(t *testing.T) {
		dir := folder(t, replace(good, "batches.meta.txt", []byte("a\nb\n\nd\n")))
		plugintest.WantInvalid(t, "blank", describeErr(core.Options{"root": dir}), filepath.Join(dir, "batches.meta.txt"), "at byte offset 4", "line 3 is blank")
	})
	t.Run("changed file is read again", func(t *testing.T) {
		dir := folder(t, good)
		if err := describeErr(core.Options{"root": dir}); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "data_batch_4.bin")
		if err := os.WriteFile(p, good[4].data[:100], 0o644); err != nil {
			t.Fatal(err)
		}
		later := time.Now().Add(time.Hour)
		if err := os.Chtimes(p, later, later); err != nil {
			t.Fatal(err)
		}
		plugintest.WantInvalid(t, "rewritten batch", describeErr(core.Options{"root": dir}), p, "at byte offset 0")
	})
}

func TestCIFAR100BinaryLabelErrors(t *testing.T) {
	good := c100BinaryMembers(5, 3)
	dir := writeFolder(t, filepath.Join(t.TempDir(), "cifar-100-binary"), good)
	for _, name := range []string{nameCIFAR100, nameCIFAR20} {
		info, err := Dataset{}.Describe(context.Background(), core.Options{"name": name, "root": dir})
		if err != nil || len(info.Classes) != map[string]int{nameCIFAR100: 100, nameCIFAR20: 20}[name] {
			t.Fatalf("%s: %v, %d classes", name, err, len(info.Classes))
		}
	}
	fine := append([]byte(nil), good[2].data...)
	fine[3074+1] = 100
	d := writeFolder(t, filepath.Join(t.TempDir(), "cifar-100-binary"), replace(good, "train.bin", fine))
	plugintest.WantInvalid(t, "fine 100", describeErr(core.Options{"name": nameCIFAR100, "root": d}),
		filepath.Join(d, "train.bin"), "at byte offset 3075", "fine label 100 of image 1", "fine_label_names.txt")
	coarse := append([]byte(nil), good[3].data...)
	coarse[0] = 20
	d = writeFolder(t, filepath.Join(t.TempDir(), "cifar-100-binary"), replace(good, "test.bin", coarse))
	plugintest.WantInvalid(t, "coarse 20", describeErr(core.Options{"name": nameCIFAR20, "root": d}),
		filepath.Join(d, "test.bin"), "at byte offset 0", "coarse label 20 of image 0", "coarse_label_names.txt")
}

func TestPythonFolderErrors(t *testing.T) {
	fixture := func(t *testing.T) string {
		return filepath.Join(testarchive.ExtractTarGz(t, filepath.Join(testdataDir, archiveC10Python), t.TempDir()), "cifar-10-batches-py")
	}
	write := func(t *testing.T, p string, data []byte) {
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("truncated pickle", func(t *testing.T) {
		dir := fixture(t)
		p := filepath.Join(dir, "data_batch_2")
		data, _ := os.ReadFile(p)
		write(t, p, data[:1000])
		// Offset 151 is the BINSTRING holding the pixels (see make_fixtures.py).
		plugintest.WantInvalid(t, "truncated", describeErr(core.Options{"root": dir}),
			p, "at byte offset 151", "garbled pickle: opcode BINSTRING", "needs 18432 bytes but only 844 remain")
	})
	t.Run("code in a pickle", func(t *testing.T) {
		dir := fixture(t)
		p := filepath.Join(dir, "test_batch")
		write(t, p, []byte("\x80\x02cos\nsystem\nU\x05touch\x85R."))
		plugintest.WantInvalid(t, "os.system", describeErr(core.Options{"root": dir}), p, "refers to os.system", "nothing is executed")
	})
	t.Run("label out of range", func(t *testing.T) {
		dir := fixture(t)
		p := filepath.Join(dir, "data_batch_1")
		write(t, p, py2Batch([]int{6, 3072}, planar(6, 0), map[string][]int{"labels": {0, 1, 2, 3, 4, 12}}))
		plugintest.WantInvalid(t, "label 12", describeErr(core.Options{"root": dir}),
			p, `label 12 of image 5 (in "labels") is not below the number of classes, 10`, "batches.meta")
	})
	t.Run("count against num_cases_per_batch", func(t *testing.T) {
		dir := fixture(t)
		p := filepath.Join(dir, "data_batch_4")
		write(t, p, py2Batch([]int{5, 3072}, planar(5, 0), map[string][]int{"labels": {0, 1, 2, 3, 4}}))
		plugintest.WantInvalid(t, "5 images", describeErr(core.Options{"root": dir}),
			p, "holds 5 images but", "says every batch holds 6 (num_cases_per_batch)")
	})
	t.Run("meta without names", func(t *testing.T) {
		dir := fixture(t)
		p := filepath.Join(dir, "batches.meta")
		write(t, p, py2Meta(map[string][]string{"names": {"a"}}, 0))
		plugintest.WantInvalid(t, "meta", describeErr(core.Options{"root": dir}), p, `no "label_names" entry`)
	})
	t.Run("python files given format=binary", func(t *testing.T) {
		dir := fixture(t)
		plugintest.WantInvalid(t, "format", describeErr(core.Options{"root": dir, "format": formatBinary}),
			"holds no CIFAR-10 data for name=cifar10 format=binary", "it has the CIFAR-10 python version, but format=binary; set format=python")
	})
}

func TestArchiveErrors(t *testing.T) {
	fixture := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join(testdataDir, name))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	write := func(t *testing.T, data []byte) string {
		p := filepath.Join(t.TempDir(), "cifar-10-python.tar.gz")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("truncated gzip", func(t *testing.T) {
		data := fixture(archiveC10Python)
		p := write(t, data[:len(data)*6/10])
		plugintest.WantInvalid(t, "truncated", describeErr(core.Options{"root": p}), p, "truncated", "download it again")
	})
	t.Run("truncated at the very end", func(t *testing.T) {
		data := fixture(archiveC10Python)
		p := write(t, data[:len(data)-4]) // the gzip trailer's size field
		plugintest.WantInvalid(t, "cut trailer", describeErr(core.Options{"root": p}), p, "download it again")
	})
	t.Run("corrupt gzip", func(t *testing.T) {
		data := append([]byte(nil), fixture(archiveC10Python)...)
		for i := len(data) / 2; i < len(data)/2+16; i++ {
			data[i] ^= 0x5a
		}
		p := write(t, data)
		plugintest.WantInvalid(t, "corrupt", describeErr(core.Options{"root": p}), p, "the archive is corrupt", "download it again")
	})
	dir := t.TempDir()
	good := c10BinaryMembers(2)
	t.Run("missing member", func(t *testing.T) {
		p := writeTarGz(t, filepath.Join(dir, "missing.tar.gz"), "cifar-10-batches-bin", replace(good, "data_batch_5.bin", nil))
		plugintest.WantInvalid(t, "missing", describeErr(core.Options{"root": p}), "archive "+p+" has no member cifar-10-batches-bin/data_batch_5.bin")
	})
	t.Run("member record size", func(t *testing.T) {
		p := writeTarGz(t, filepath.Join(dir, "size.tar.gz"), "cifar-10-batches-bin", replace(good, "data_batch_1.bin", good[1].data[:6000]))
		plugintest.WantInvalid(t, "size", describeErr(core.Options{"root": p}),
			p+", member cifar-10-batches-bin/data_batch_1.bin", "at byte offset (uncompressed) 3073", "the last record is cut after 2927 bytes")
	})
	t.Run("duplicate member", func(t *testing.T) {
		p := writeTarGz(t, filepath.Join(dir, "dup.tar.gz"), "cifar-10-batches-bin", append(good, good[1]))
		plugintest.WantInvalid(t, "dup", describeErr(core.Options{"root": p}), "holds data_batch_1.bin twice")
	})
	t.Run("mixed versions", func(t *testing.T) {
		p := filepath.Join(dir, "mixed.tar.gz")
		writeTarGz(t, p, "", []member{{"cifar-10-batches-bin/batches.meta.txt", good[0].data}, {"cifar-10-batches-py/batches.meta", []byte("x")}})
		plugintest.WantInvalid(t, "mixed", describeErr(core.Options{"root": p}), "mixes the CIFAR-10 binary version and the CIFAR-10 python version")
	})
	t.Run("huge member", func(t *testing.T) {
		// A header announcing 4 GiB (and no data behind it): refused
		// before anything is allocated or read.
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(zw)
		if err := tw.WriteHeader(&tar.Header{Name: "cifar-100-python/train", Mode: 0o644, Size: 4 << 30, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		_ = tw.Flush() // reports the missing data; the header is written
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "huge.tar.gz")
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		plugintest.WantInvalid(t, "huge", describeErr(core.Options{"name": nameCIFAR100, "root": p}),
			p+", member cifar-100-python/train", "is 4294967296 bytes; no CIFAR file has more than 1073741824")
	})
	t.Run("not CIFAR", func(t *testing.T) {
		p := writeTarGz(t, filepath.Join(dir, "other.tar.gz"), "photos", []member{{"a.jpg", []byte("x")}})
		plugintest.WantInvalid(t, "other", describeErr(core.Options{"root": p}), "archive "+p+" holds no CIFAR data", "cifar-10-batches-bin/ or cifar-10-batches-py/")
	})
	t.Run("not a tar", func(t *testing.T) {
		p := filepath.Join(dir, "junk.bin")
		if err := os.WriteFile(p, bytes.Repeat([]byte("junk"), 300), 0o644); err != nil {
			t.Fatal(err)
		}
		plugintest.WantInvalid(t, "junk", describeErr(core.Options{"root": p}), p, "not a tar archive")
	})
	t.Run("plain tar", func(t *testing.T) {
		gz := writeTarGz(t, filepath.Join(dir, "plain.tar.gz"), "cifar-10-batches-bin", good)
		raw, _ := os.ReadFile(gz)
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		var tarData bytes.Buffer
		if _, err := tarData.ReadFrom(zr); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "plain.tar")
		if err := os.WriteFile(p, tarData.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := describeErr(core.Options{"root": p}); err != nil {
			t.Errorf("uncompressed tar: %v", err)
		}
	})
	t.Run("CIFAR-100 archive for cifar10", func(t *testing.T) {
		p := filepath.Join(testdataDir, archiveC100Binary)
		plugintest.WantInvalid(t, "family", describeErr(core.Options{"name": nameCIFAR10, "root": p}),
			"archive "+p+" holds the CIFAR-100 binary version, but name=cifar10 needs CIFAR-10", "set name=cifar10")
	})
	t.Run("python archive for format=binary", func(t *testing.T) {
		p := filepath.Join(testdataDir, archiveC10Python)
		plugintest.WantInvalid(t, "format", describeErr(core.Options{"root": p, "format": formatBinary}),
			"holds the CIFAR-10 python version, but format=binary; set format=python or format=auto")
	})
}

func TestOptionErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nowhere")
	plugintest.WantInvalid(t, "missing root", describeErr(core.Options{"root": missing}), missing+" does not exist", "cifar-10-binary.tar.gz or cifar-10-python.tar.gz")
	var oe *core.OptionError
	if err := describeErr(core.Options{"name": nameCIFAR10}); !errors.As(err, &oe) || oe.Key != "root" {
		t.Errorf("unset root: %v", err)
	}
	if err := describeErr(core.Options{"name": "cifar30", "root": missing}); !errors.As(err, &oe) || oe.Key != "name" {
		t.Errorf("bad name: %v", err)
	}
	if err := describeErr(core.Options{"format": "matlab", "root": missing}); !errors.As(err, &oe) || oe.Key != "format" {
		t.Errorf("bad format: %v", err)
	}
	empty := t.TempDir()
	plugintest.WantInvalid(t, "empty dir", describeErr(core.Options{"name": nameCIFAR100, "root": empty}),
		"holds no CIFAR-100 data", "cifar-100-binary/", "cifar-100-python.tar.gz")
	// A directory holding CIFAR-100 when CIFAR-10 is asked for.
	copyFile(t, filepath.Join(testdataDir, archiveC100Python), filepath.Join(empty, archiveC100Python))
	plugintest.WantInvalid(t, "other family", describeErr(core.Options{"root": empty}),
		"it has the CIFAR-100 python version, but name=cifar10 needs CIFAR-10; set name=cifar100")

	info, err := Dataset{}.Describe(context.Background(), nil)
	if err != nil || info.Kind != core.KindDataset || info.Name != "cifar" || info.Identity != "" || len(info.Options) != 5 {
		t.Errorf("schema-only describe: %+v, %v", info.Description, err)
	}
}

func TestReadRequests(t *testing.T) {
	ctx := context.Background()
	opts := core.Options{"root": filepath.Join(testdataDir, archiveC10Binary)}
	send := func(core.ImageBatch) error { return nil }
	plugintest.WantInvalid(t, "unknown split", Dataset{}.Read(ctx, core.ReadRequest{Options: opts, Split: "val", BatchSize: 2}, send), `unknown split "val"`)
	plugintest.WantInvalid(t, "batch size", Dataset{}.Read(ctx, core.ReadRequest{Options: opts, Split: core.SplitTrain}, send), "batch size must be positive")
	cctx, cancel := context.WithCancel(ctx)
	calls := 0
	err := Dataset{}.Read(cctx, core.ReadRequest{Options: opts, Split: core.SplitTrain, BatchSize: 4}, func(core.ImageBatch) error {
		calls++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Errorf("cancelled read: %v after %d batches", err, calls)
	}
	stop := errors.New("consumer stopped")
	if err := (Dataset{}).Read(ctx, core.ReadRequest{Options: opts, Split: core.SplitTest, BatchSize: 2}, func(core.ImageBatch) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("send error not returned: %v", err)
	}
	// Batches are copies: changing one does not change the next read.
	var first []byte
	_ = Dataset{}.Read(ctx, core.ReadRequest{Options: opts, Split: core.SplitTest, BatchSize: 6}, func(b core.ImageBatch) error {
		first = append(first, b.Pixels...)
		b.Pixels[0] ^= 0xff
		return nil
	})
	again, _ := readSplit(t, opts, core.SplitTest, 6)
	if !bytes.Equal(first[:1], again[:1]) {
		t.Errorf("a consumer's change reached the cache")
	}
	// A cancelled context stops decoding an archive that is not cached.
	p := filepath.Join(t.TempDir(), archiveC10Python)
	copyFile(t, filepath.Join(testdataDir, archiveC10Python), p)
	cctx, cancel = context.WithCancel(ctx)
	cancel()
	if _, err := (Dataset{}).Describe(cctx, core.Options{"root": p}); !errors.Is(err, context.Canceled) {
		t.Errorf("describe with a cancelled context: %v", err)
	}
}

// TestPluginProcess builds clusterlab-dataset-cifar and talks to it over
// the plugin protocol, as the runner does: the fixture data arrives intact
// and a bad file is invalid input, named in the error.
func TestPluginProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED in -short mode: builds the plugin executable")
	}
	exe := testbin.Path(t, testbin.Plugin("datasets/cifar"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := plugins.Launch(ctx, core.KindDataset, exe)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Kill()
	root, err := filepath.Abs(filepath.Join(testdataDir, archiveC100Python))
	if err != nil {
		t.Fatal(err)
	}
	opts := core.Options{"name": nameCIFAR20, "root": root}
	info, err := c.Dataset().Describe(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	local, err := Dataset{}.Describe(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if info.Identity != local.Identity || len(info.Classes) != 20 || info.Channels != 3 {
		t.Errorf("over the protocol: identity %q (local %q), %d classes", info.Identity, local.Identity, len(info.Classes))
	}
	var px []byte
	var labels []int32
	err = c.Dataset().Read(ctx, core.ReadRequest{Options: opts, Split: core.SplitTest, BatchSize: 3}, func(b core.ImageBatch) error {
		px = append(px, b.Pixels...)
		labels = append(labels, b.Labels...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(px, fixtureImages(c100Salt, c100Train, c100Test)) || len(labels) != c100Test || labels[0] != c20Coarse(c100Train) {
		t.Errorf("test split over the protocol: %d pixels, labels %v", len(px), labels)
	}
	bad := filepath.Join(t.TempDir(), "cifar-100-python.tar.gz")
	raw, _ := os.ReadFile(root)
	if err := os.WriteFile(bad, raw[:len(raw)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = c.Dataset().Describe(ctx, core.Options{"name": nameCIFAR100, "root": bad})
	if err == nil || !plugins.IsInvalidInput(err) || !strings.Contains(err.Error(), bad) {
		t.Errorf("truncated archive over the protocol: %v (invalid input: %v)", err, plugins.IsInvalidInput(err))
	}
}
