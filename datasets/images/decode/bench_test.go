package decode

import (
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkJPEG decodes the 61x83 4:2:0 fixture.
func BenchmarkJPEG(b *testing.B) {
	data, err := os.ReadFile("testdata/img/jpeg_big_420.jpg")
	if err != nil {
		b.Fatal(err)
	}
	h, err := ProbeBytes(data)
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, h.Width*h.Height*3)
	b.ResetTimer()
	for range b.N {
		if err := DecodeInto(data, dst, h.Width, h.Height); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecodeFolderSpeed decodes every file of $DECODE_DIR (read from the
// page cache: run it twice) on $DECODE_WORKERS goroutines (default: all
// cores), as the plugin does (read the file, probe, decode), and logs
// images per second. Skipped without DECODE_DIR.
//
//	DECODE_DIR=/path/to/jpegs go test -run TestDecodeFolderSpeed -v ./datasets/images/decode/
func TestDecodeFolderSpeed(t *testing.T) {
	dir := os.Getenv("DECODE_DIR")
	if dir == "" {
		t.Skip("set DECODE_DIR to a folder of images")
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no files in %s (%v)", dir, err)
	}
	sort.Strings(paths)
	workers := runtime.NumCPU()
	if w := os.Getenv("DECODE_WORKERS"); w != "" {
		var n int
		for _, c := range w {
			n = n*10 + int(c-'0')
		}
		workers = n
	}
	var next atomic.Int64
	var pixels atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(paths) {
					return
				}
				data, err := os.ReadFile(paths[i])
				if err != nil {
					t.Error(err)
					return
				}
				h, err := ProbeBytes(data)
				if err != nil {
					t.Errorf("%s: %v", paths[i], err)
					return
				}
				dst := make([]byte, h.Width*h.Height*3)
				if err := DecodeInto(data, dst, h.Width, h.Height); err != nil {
					t.Errorf("%s: %v", paths[i], err)
					return
				}
				pixels.Add(int64(len(dst)))
			}
		}()
	}
	wg.Wait()
	s := time.Since(start).Seconds()
	t.Logf("%d images in %.3f s on %d goroutines: %.0f images/s (%.1f MB of RGB)", len(paths), s, workers, float64(len(paths))/s, float64(pixels.Load())/1e6)
}
