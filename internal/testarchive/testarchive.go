// Package testarchive unpacks the archives tests ship in testdata/.
package testarchive

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ExtractTarGz unpacks the folders and regular files of a .tar.gz into dir
// (as `tar xzf` would; members whose name holds ".." are passed over) and
// returns dir. It fails tb on any error.
func ExtractTarGz(tb testing.TB, archive, dir string) string {
	tb.Helper()
	f, err := os.Open(archive)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatalf("%s: %v", archive, err)
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return dir
		}
		if err != nil {
			tb.Fatalf("%s: %v", archive, err)
		}
		if strings.Contains(hdr.Name, "..") {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				tb.Fatal(err)
			}
		case tar.TypeReg:
			data, err := io.ReadAll(tr)
			if err != nil {
				tb.Fatalf("%s: %v", archive, err)
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				tb.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				tb.Fatal(err)
			}
		}
	}
}
