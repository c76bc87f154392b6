package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
)

// The runner's stderr is a console: log lines, and progress for the long
// steps. On a terminal every running step (one per trial of a parallel
// sweep, and per step within it) has a live line of its own at the
// bottom, redrawn in place, with the log lines scrolling above them;
// elsewhere (logs, CI, pipes, tests) progress is plain periodic lines, so
// long work is never silent and the output stays readable as text. In a
// sweep every line a trial writes starts with the trial's name.

// console is where log and progress lines go. One lock guards the output
// and every bar, so lines never interleave; nothing under it blocks on
// anything but the write itself.
type console struct {
	mu  sync.Mutex
	w   io.Writer
	tty bool
	// size is the terminal's width and height (0 when unknown); live lines
	// are cut to the width so each takes exactly one row.
	size func() (cols, rows int)
	// every is the period of the plain progress lines off a terminal;
	// redraw the least time between two redraws of the live lines.
	every, redraw time.Duration
	now           func() time.Time

	bars     []*progress // running, in start order
	drawn    int         // rows of live lines on screen, below the log
	lastDraw time.Time
}

func newConsole(w io.Writer, tty bool) *console {
	return &console{w: w, tty: tty, every: 10 * time.Second, redraw: 100 * time.Millisecond, now: time.Now}
}

// stderrConsole is the console of the process: stderr.
var stderrConsole = sync.OnceValue(func() *console {
	fd := int(os.Stderr.Fd())
	c := newConsole(os.Stderr, term.IsTerminal(fd))
	if c.tty {
		c.size = func() (int, int) {
			w, h, err := term.GetSize(fd)
			if err != nil {
				return 0, 0
			}
			return w, h
		}
	}
	return c
})

// logf prints a line of the runner, outside any trial.
func logf(format string, args ...any) { trialLog{}.Logf(format, args...) }

// trialLog is what one trial writes on the console: its log lines and its
// progress, each line prefixed (in a sweep, with the trial's name). The
// zero value writes on stderr without a prefix.
type trialLog struct {
	c      *console
	prefix string
}

// trialLogOf is the console of a planned trial: its lines carry its name
// when it is one trial of a sweep.
func trialLogOf(p *trialPlan) trialLog {
	if p.sweep != nil {
		return trialLog{prefix: "[" + p.trial + "] "}
	}
	return trialLog{}
}

func (l trialLog) console() *console {
	if l.c != nil {
		return l.c
	}
	return stderrConsole()
}

// Logf prints one line.
func (l trialLog) Logf(format string, args ...any) {
	l.console().println(l.prefix + fmt.Sprintf(format, args...))
}

// Progress starts the display of one long step. unit names what is
// counted ("img", "step", "row"); total may be 0 when unknown. Finish it
// with Done, or Stop when the step fails.
func (l trialLog) Progress(label, unit string, total int) *progress {
	c := l.console()
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	p := &progress{c: c, prefix: l.prefix, label: label, unit: unit, total: total, start: now, lastLine: now}
	c.bars = append(c.bars, p)
	return p
}

// println writes a line above the live ones.
func (c *console) println(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.emit(s + "\n")
}

// emit writes permanent text (whole lines) under the lock: on a terminal
// it erases the live lines, writes the text and draws them again below it,
// in one write.
func (c *console) emit(text string) {
	if !c.tty || len(c.bars) == 0 && c.drawn == 0 {
		io.WriteString(c.w, text)
		return
	}
	now := c.now()
	io.WriteString(c.w, c.erase()+text+c.block(now))
	c.lastDraw = now
}

// refresh redraws the live lines if the last redraw is old enough.
func (c *console) refresh() {
	now := c.now()
	if now.Sub(c.lastDraw) < c.redraw {
		return
	}
	io.WriteString(c.w, c.erase()+c.block(now))
	c.lastDraw = now
}

// erase moves the cursor back to the first live line and clears from
// there to the end of the screen.
func (c *console) erase() string {
	if c.drawn == 0 {
		return ""
	}
	s := fmt.Sprintf("\r\033[%dA\033[J", c.drawn)
	c.drawn = 0
	return s
}

// block renders the live lines, one row each (the ones that do not fit
// the terminal's height are counted on a last row), and records how many
// rows it takes.
func (c *console) block(now time.Time) string {
	cols, rows := 0, 0
	if c.size != nil {
		cols, rows = c.size()
	}
	show, more := len(c.bars), 0
	if rows > 2 && show > rows-2 {
		show = rows - 2
		more = len(c.bars) - show
	}
	var b strings.Builder
	for _, p := range c.bars[:show] {
		b.WriteString("\033[K" + cut(p.live(now), cols) + "\n")
	}
	if more > 0 {
		b.WriteString("\033[K" + cut(fmt.Sprintf("... and %d more running", more), cols) + "\n")
	}
	c.drawn = show + min(more, 1)
	return b.String()
}

// cut shortens s to fit one terminal row of cols columns (the last column
// is left free, so the cursor never wraps).
func cut(s string, cols int) string {
	if cols <= 1 || utf8.RuneCountInString(s) < cols {
		return s
	}
	r := []rune(s)
	return string(r[:cols-1])
}

// remove takes a bar off the live lines.
func (c *console) remove(p *progress) {
	for i, b := range c.bars {
		if b == p {
			c.bars = append(c.bars[:i:i], c.bars[i+1:]...)
			return
		}
	}
}

// progress is the display of one long step.
type progress struct {
	c        *console
	prefix   string
	label    string
	unit     string
	total    int
	done     int
	extra    string
	start    time.Time
	lastLine time.Time
	ended    bool
}

// Set records progress and redraws if due: on a terminal at most every
// 100 ms (all live lines together), elsewhere a plain line every 10 s.
func (p *progress) Set(done int, extra string) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if p.ended {
		return
	}
	p.done, p.extra = done, extra
	now := c.now()
	if c.tty {
		c.refresh()
	} else if now.Sub(p.lastLine) >= c.every {
		p.lastLine = now
		io.WriteString(c.w, p.plain(now)+"\n")
	}
}

// Done finishes the display with a summary line.
func (p *progress) Done(summary string) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if p.ended {
		return
	}
	p.ended = true
	c.remove(p)
	if summary == "" {
		summary = fmt.Sprintf("%d %s", p.done, p.unit)
	}
	el := c.now().Sub(p.start)
	c.emit(fmt.Sprintf("%s%-12s done in %s: %s\n", p.prefix, p.label, el.Round(100*time.Millisecond), summary))
}

// Stop ends the display without a summary (the step failed); after Done
// it does nothing.
func (p *progress) Stop() {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if p.ended {
		return
	}
	p.ended = true
	c.remove(p)
	if c.tty {
		c.emit("")
	}
}

func (p *progress) rate(now time.Time) float64 {
	s := now.Sub(p.start).Seconds()
	if s <= 0 {
		return 0
	}
	return float64(p.done) / s
}

// live is the bar's line on a terminal.
func (p *progress) live(now time.Time) string {
	width := 30
	var bar, pct, eta string
	if p.total > 0 {
		f := float64(p.done) / float64(p.total)
		if f > 1 {
			f = 1
		}
		n := int(f * float64(width))
		bar = "[" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "]"
		pct = fmt.Sprintf("%3.0f%%", 100*f)
		if r := p.rate(now); r > 0 && p.done < p.total {
			eta = " eta " + (time.Duration(float64(p.total-p.done)/r) * time.Second).String()
		}
	}
	return fmt.Sprintf("%s%-12s %s %s %d/%d %s %.0f %s/s%s %s", p.prefix, p.label, bar, pct, p.done, p.total, p.unit, p.rate(now), p.unit, eta, p.extra)
}

// plain is the bar's periodic line off a terminal.
func (p *progress) plain(now time.Time) string {
	if p.total > 0 {
		return fmt.Sprintf("%s%-12s %d/%d %s (%.0f%%, %.0f %s/s) %s", p.prefix, p.label, p.done, p.total, p.unit, 100*float64(p.done)/float64(p.total), p.rate(now), p.unit, p.extra)
	}
	return fmt.Sprintf("%s%-12s %d %s (%.0f %s/s) %s", p.prefix, p.label, p.done, p.unit, p.rate(now), p.unit, p.extra)
}
