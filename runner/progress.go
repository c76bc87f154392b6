package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// progress shows one long step: a live bar on a terminal, plain periodic
// lines otherwise (logs, CI), so long work is never silent.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	label    string
	unit     string
	total    int
	done     int
	extra    string
	start    time.Time
	lastDraw time.Time
	every    time.Duration
}

// newProgress starts a progress display on stderr. unit names what is
// counted ("img", "step", "row"); total may be 0 when unknown.
func newProgress(label, unit string, total int) *progress {
	now := time.Now()
	p := &progress{
		w: os.Stderr, tty: term.IsTerminal(int(os.Stderr.Fd())),
		label: label, unit: unit, total: total, start: now, every: 10 * time.Second,
	}
	if !p.tty {
		p.lastDraw = now // the first plain line after `every`, with a meaningful rate
	}
	return p
}

// Set records progress and redraws if due.
func (p *progress) Set(done int, extra string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done, p.extra = done, extra
	now := time.Now()
	if p.tty && now.Sub(p.lastDraw) >= 100*time.Millisecond {
		p.draw(now)
	} else if !p.tty && now.Sub(p.lastDraw) >= p.every {
		p.line(now)
	}
}

// Done finishes the display with a summary line.
func (p *progress) Done(summary string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	el := time.Since(p.start)
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
	if summary == "" {
		summary = fmt.Sprintf("%d %s", p.done, p.unit)
	}
	fmt.Fprintf(p.w, "%-12s done in %s: %s\n", p.label, el.Round(100*time.Millisecond), summary)
}

func (p *progress) rate(now time.Time) float64 {
	s := now.Sub(p.start).Seconds()
	if s <= 0 {
		return 0
	}
	return float64(p.done) / s
}

func (p *progress) draw(now time.Time) {
	p.lastDraw = now
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
	fmt.Fprintf(p.w, "\r\033[K%-12s %s %s %d/%d %s %.0f %s/s%s %s", p.label, bar, pct, p.done, p.total, p.unit, p.rate(now), p.unit, eta, p.extra)
}

func (p *progress) line(now time.Time) {
	p.lastDraw = now
	if p.total > 0 {
		fmt.Fprintf(p.w, "%-12s %d/%d %s (%.0f%%, %.0f %s/s) %s\n", p.label, p.done, p.total, p.unit, 100*float64(p.done)/float64(p.total), p.rate(now), p.unit, p.extra)
	} else {
		fmt.Fprintf(p.w, "%-12s %d %s (%.0f %s/s) %s\n", p.label, p.done, p.unit, p.rate(now), p.unit, p.extra)
	}
}
