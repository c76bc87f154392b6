package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// fakeClock is a console's clock, moved by the test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// exclusiveWriter is a buffer that records whether two writes ever
// overlapped (which would interleave their bytes on a real stderr).
type exclusiveWriter struct {
	buf      bytes.Buffer
	inflight atomic.Int32
	overlap  atomic.Bool
	writes   atomic.Int32
}

func (w *exclusiveWriter) Write(b []byte) (int, error) {
	if w.inflight.Add(1) > 1 {
		w.overlap.Store(true)
	}
	defer w.inflight.Add(-1)
	w.writes.Add(1)
	time.Sleep(time.Microsecond) // widen the window a racing write would hit
	return w.buf.Write(b)
}

func testConsole(tty bool) (*console, *exclusiveWriter, *fakeClock) {
	w := &exclusiveWriter{}
	clk := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := newConsole(w, tty)
	c.now = clk.now
	return c, w, clk
}

// The plain lines off a terminal keep their format, with the trial's name
// in front in a sweep: one every 10 s while a step runs, and its summary.
func TestProgressPlainLines(t *testing.T) {
	c, w, clk := testConsole(false)
	for _, prefix := range []string{"", "[beta=0.6-seed0] "} {
		w.buf.Reset()
		log := trialLog{c: c, prefix: prefix}
		p := log.Progress("k-NN graph", "row", 100)
		clk.add(5 * time.Second)
		p.Set(20, "")
		clk.add(5 * time.Second)
		p.Set(50, "")
		clk.add(2 * time.Second)
		p.Set(60, "x")
		log.Logf("embeddings of %s: cached (%s)", "train", "dir")
		clk.add(2 * time.Second)
		p.Done("100 x 8, k=10, cosine")
		u := log.Progress("fit pixels", "img", 0)
		clk.add(10 * time.Second)
		u.Set(40, "")
		u.Done("")
		want := prefix + "k-NN graph   50/100 row (50%, 5 row/s) \n" +
			prefix + "embeddings of train: cached (dir)\n" +
			prefix + "k-NN graph   done in 14s: 100 x 8, k=10, cosine\n" +
			prefix + "fit pixels   40 img (4 img/s) \n" +
			prefix + "fit pixels   done in 10s: 40 img\n"
		if got := w.buf.String(); got != want {
			t.Errorf("prefix %q: got\n%s\nwant\n%s", prefix, got, want)
		}
	}
	// The summary line the sweep test counts.
	if !strings.Contains(w.buf.String(), "k-NN graph   done") {
		t.Errorf("summary line changed: %q", w.buf.String())
	}
}

// lineOK matches every line the concurrent trials below may write.
var lineOK = regexp.MustCompile(`^\[t(\d)\] (train loss   \d+/1000 step \(\d+%, \d+ step/s\) epoch \d+|message \d+ of trial \d|train loss   done in [0-9.ms]+: trained)$`)

// Trials reporting at once, each from its own goroutine, never interleave
// their lines, off a terminal and on one; nothing deadlocks.
func TestProgressConcurrentTrials(t *testing.T) {
	for _, tty := range []bool{false, true} {
		t.Run(fmt.Sprintf("tty=%v", tty), func(t *testing.T) {
			c, w, clk := testConsole(tty)
			c.every, c.redraw = 0, 0 // draw on every Set: the most writes
			c.size = func() (int, int) { return 200, 50 }
			const trials, steps = 4, 1000
			var wg sync.WaitGroup
			for i := range trials {
				wg.Add(1)
				go func() {
					defer wg.Done()
					log := trialLog{c: c, prefix: fmt.Sprintf("[t%d] ", i)}
					p := log.Progress("train loss", "step", steps)
					for s := 1; s <= steps; s++ {
						clk.add(time.Millisecond)
						p.Set(s, fmt.Sprintf("epoch %d", s/100))
						if s%100 == 0 {
							log.Logf("message %d of trial %d", s, i)
						}
					}
					p.Done("trained")
				}()
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(time.Minute):
				t.Fatal("concurrent progress did not finish: deadlock")
			}
			if w.overlap.Load() {
				t.Fatal("two writes overlapped")
			}
			out := w.buf.String()
			var lines []string
			if tty {
				lines = emulate(t, out)
			} else {
				lines = strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			}
			messages := 0
			for _, l := range lines {
				m := lineOK.FindStringSubmatch(l)
				if m == nil {
					t.Fatalf("corrupt line %q", l)
				}
				if strings.Contains(l, "message") {
					if !strings.HasSuffix(l, "of trial "+m[1]) {
						t.Fatalf("a line carries another trial's name: %q", l)
					}
					messages++
				}
			}
			if messages != trials*steps/100 {
				t.Errorf("%d messages, want %d", messages, trials*steps/100)
			}
			if n := strings.Count(strings.Join(lines, "\n"), "done in"); n != trials {
				t.Errorf("%d summaries, want %d", n, trials)
			}
		})
	}
}

// On a terminal each running step has its own line, labelled with its
// trial, below the log; finished steps leave their summary in the log and
// their line goes; a line never wraps.
func TestProgressOneLinePerTrial(t *testing.T) {
	c, w, clk := testConsole(true)
	c.redraw = 0
	c.size = func() (int, int) { return 60, 20 }
	a := trialLog{c: c, prefix: "[a] "}
	b := trialLog{c: c, prefix: "[b-with-a-long-name] "}
	pa := a.Progress("train temi", "step", 100)
	pb := b.Progress("train temi", "step", 200)
	clk.add(time.Second)
	pa.Set(10, "epoch 1/10 loss 0.5000")
	pb.Set(50, "epoch 2/8 loss 0.2500")
	a.Logf("temi: backend go")
	screen := emulate(t, w.buf.String())
	if len(screen) != 3 || screen[0] != "[a] temi: backend go" ||
		!strings.HasPrefix(screen[1], "[a] train temi   [===") || !strings.HasPrefix(screen[2], "[b-with-a-long-name] train temi   [") {
		t.Fatalf("screen:\n%s", strings.Join(screen, "\n"))
	}
	for _, l := range screen {
		if n := utf8.RuneCountInString(l); n >= 60 {
			t.Errorf("line of %d columns on a 60-column terminal: %q", n, l)
		}
	}
	clk.add(time.Second)
	pa.Done("backend go, best head 1")
	screen = emulate(t, w.buf.String())
	if len(screen) != 3 || screen[1] != "[a] train temi   done in 2s: backend go, best head 1" || !strings.HasPrefix(screen[2], "[b-with-a-long-name] train temi") {
		t.Fatalf("after Done:\n%s", strings.Join(screen, "\n"))
	}
	pb.Stop()
	pb.Set(60, "") // after Stop: ignored
	if screen = emulate(t, w.buf.String()); len(screen) != 2 {
		t.Fatalf("after Stop:\n%s", strings.Join(screen, "\n"))
	}

	// More running steps than rows: the rest are counted on one row.
	c.size = func() (int, int) { return 80, 4 }
	var ps []*progress
	for i := range 4 {
		ps = append(ps, trialLog{c: c, prefix: fmt.Sprintf("[t%d] ", i)}.Progress("k-means", "init", 10))
	}
	ps[0].Set(1, "")
	screen = emulate(t, w.buf.String())
	if len(screen) != 5 || !strings.HasPrefix(screen[2], "[t0] k-means") || !strings.HasPrefix(screen[3], "[t1] k-means") || screen[4] != "... and 2 more running" {
		t.Fatalf("overflow:\n%s", strings.Join(screen, "\n"))
	}
	for _, p := range ps {
		p.Stop()
	}
}

// Progress reported every few milliseconds (training reports every
// 200 ms, k-means every iteration) redraws at most every 100 ms.
func TestProgressRedrawsAreThrottled(t *testing.T) {
	c, w, clk := testConsole(true)
	c.size = func() (int, int) { return 100, 30 }
	p := trialLog{c: c}.Progress("k-NN graph", "row", 100000)
	for i := range 100000 {
		clk.add(100 * time.Microsecond) // 10 s in all
		p.Set(i, "")
	}
	p.Done("")
	if n := w.writes.Load(); n > 102 {
		t.Errorf("%d writes for 10 s of progress, want at most 102", n)
	}
}

// emulate plays a console's output on a terminal of unlimited size and
// returns the screen's lines (the row under the cursor, empty, left out).
// It understands what the console writes: text, \n, \r, and the CSI
// sequences cursor up (A), clear to end of line (K) and of screen (J).
func emulate(t *testing.T, out string) []string {
	t.Helper()
	screen := [][]rune{{}}
	row, col := 0, 0
	rs := []rune(out)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; r {
		case '\n':
			row, col = row+1, 0
			if row == len(screen) {
				screen = append(screen, []rune{})
			}
		case '\r':
			col = 0
		case '\033':
			if i+1 >= len(rs) || rs[i+1] != '[' {
				t.Fatalf("bad escape at %d: %q", i, string(rs[i:min(len(rs), i+10)]))
			}
			j := i + 2
			for j < len(rs) && rs[j] >= '0' && rs[j] <= '9' {
				j++
			}
			n := 1
			if j > i+2 {
				n, _ = strconv.Atoi(string(rs[i+2 : j]))
			}
			switch rs[j] {
			case 'A':
				row = max(0, row-n)
			case 'K':
				if col < len(screen[row]) {
					screen[row] = screen[row][:col]
				}
			case 'J':
				if col < len(screen[row]) {
					screen[row] = screen[row][:col]
				}
				screen = screen[:row+1]
			default:
				t.Fatalf("unexpected escape %q", string(rs[i:j+1]))
			}
			i = j
		default:
			for len(screen[row]) <= col {
				screen[row] = append(screen[row], ' ')
			}
			screen[row][col] = r
			col++
		}
	}
	var lines []string
	for i, l := range screen {
		if i == len(screen)-1 && len(l) == 0 {
			break
		}
		lines = append(lines, string(l))
	}
	return lines
}
