package report

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/plot/palette"

	"github.com/clusterlab/clusterlab/core/npy"
)

// Colours shared by the plots and the gallery.
var (
	white     = color.RGBA{255, 255, 255, 255}
	textCol   = color.RGBA{34, 34, 34, 255}
	axisCol   = color.RGBA{68, 68, 68, 255}
	gridCol   = color.RGBA{228, 228, 228, 255}
	otherCol  = color.RGBA{176, 176, 176, 255} // non-selected heads
	bestCol   = color.RGBA{214, 39, 40, 255}   // the selected head, matched cells, the uniform size
	blueCol   = color.RGBA{31, 119, 180, 255}
	orangeCol = color.RGBA{255, 127, 14, 255}
	greenCol  = color.RGBA{44, 160, 44, 255}
	purpleCol = color.RGBA{148, 103, 189, 255}
)

// writePNG encodes img to path through a temporary file and a rename.
func writePNG(path string, img image.Image) error {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		return fmt.Errorf("report: encoding %s: %w", path, err)
	}
	if err := npy.WriteAtomic(path, func(w io.Writer) error { _, err := w.Write(buf.Bytes()); return err }); err != nil {
		return fmt.Errorf("report: writing %s: %w", path, err)
	}
	return nil
}

// niceTicks returns about n round tick values, the first at or below lo
// and the last at or above hi, and their step. minStep bounds the step from below
// (1 for integer axes such as epochs).
func niceTicks(lo, hi float64, n int, minStep float64) (ticks []float64, step float64) {
	if !(hi > lo) {
		pad := math.Max(math.Abs(lo)*0.01, 1e-9)
		lo, hi = lo-pad, hi+pad
	}
	raw := (hi - lo) / float64(max(n, 1))
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step = mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	if step < minStep {
		step = minStep
	}
	// The outer ticks enclose [lo, hi], so an axis spanning them shows
	// every value.
	first, last := math.Floor(lo/step+1e-9), math.Ceil(hi/step-1e-9)
	for i := first; i <= last; i++ {
		ticks = append(ticks, i*step)
	}
	return ticks, step
}

// tickFormat prints ticks of the given step with as many decimals as the
// step needs, in exponent form for very small or large magnitudes.
func tickFormat(step float64, vals ...float64) func(float64) string {
	big := 0.0
	for _, v := range vals {
		big = math.Max(big, math.Abs(v))
	}
	if big >= 1e6 || (big > 0 && big < 1e-3) {
		return func(v float64) string {
			if v == 0 {
				return "0"
			}
			return strconv.FormatFloat(v, 'e', 1, 64)
		}
	}
	dec := 0
	if step < 1 {
		dec = int(math.Ceil(-math.Log10(step) - 1e-9))
		// steps like 0.25 need one more decimal than their magnitude
		if math.Abs(step*math.Pow(10, float64(dec))-math.Round(step*math.Pow(10, float64(dec)))) > 1e-6 {
			dec++
		}
	}
	return func(v float64) string {
		if math.Abs(v) < step*1e-6 {
			v = 0
		}
		return strconv.FormatFloat(v, 'f', dec, 64)
	}
}

// dataRange returns the min and max of the finite values; ok is false
// when there are none.
func dataRange(series ...[]float64) (lo, hi float64, ok bool) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, v := range s {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			lo, hi = math.Min(lo, v), math.Max(hi, v)
			ok = true
		}
	}
	return lo, hi, ok
}

// viridis approximates matplotlib's perceptually uniform colour map by
// linear interpolation between 9 of its colours.
var viridisStops = []color.RGBA{
	{68, 1, 84, 255}, {71, 44, 122, 255}, {59, 81, 139, 255}, {44, 113, 142, 255},
	{33, 144, 141, 255}, {39, 173, 129, 255}, {92, 200, 99, 255}, {170, 220, 50, 255}, {253, 231, 37, 255},
}

func viridis(t float64) color.RGBA {
	if math.IsNaN(t) {
		t = 0
	}
	t = math.Max(0, math.Min(1, t))
	f := t * float64(len(viridisStops)-1)
	i := int(f)
	if i >= len(viridisStops)-1 {
		return viridisStops[len(viridisStops)-1]
	}
	u := f - float64(i)
	a, b := viridisStops[i], viridisStops[i+1]
	mix := func(p, q uint8) uint8 { return uint8(math.Round(float64(p) + u*(float64(q)-float64(p)))) }
	return color.RGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 255}
}

// viridisPalette returns n colours evenly spaced along viridis, the first
// viridis(0) and the last viridis(1). An odd n puts viridis(0.5) in the
// middle, so a share of exactly 50% gets exactly that colour.
type viridisPalette int

func (n viridisPalette) Colors() []color.Color {
	out := make([]color.Color, max(int(n), 2))
	for i := range out {
		out[i] = viridis(float64(i) / float64(len(out)-1))
	}
	return out
}

// viridisMap is viridis as gonum's palette.ColorMap over [min, max], for
// the colour bar.
type viridisMap struct{ min, max, alpha float64 }

var _ palette.ColorMap = (*viridisMap)(nil)

func (m *viridisMap) At(v float64) (color.Color, error) {
	switch {
	case math.IsNaN(v):
		return nil, palette.ErrNaN
	case v < m.min:
		return nil, palette.ErrUnderflow
	case v > m.max:
		return nil, palette.ErrOverflow
	}
	t := 0.0
	if m.max > m.min {
		t = (v - m.min) / (m.max - m.min)
	}
	c := viridis(t)
	c.A = uint8(math.Round(255 * m.alpha))
	if c.A == 255 {
		return c, nil
	}
	return color.NRGBA(c), nil // straight, not premultiplied, alpha
}

func (m *viridisMap) Max() float64                  { return m.max }
func (m *viridisMap) SetMax(v float64)              { m.max = v }
func (m *viridisMap) Min() float64                  { return m.min }
func (m *viridisMap) SetMin(v float64)              { m.min = v }
func (m *viridisMap) Alpha() float64                { return m.alpha }
func (m *viridisMap) Palette(n int) palette.Palette { return viridisPalette(n) }

// SetAlpha sets the opacity; like gonum's colour maps it panics outside
// [0, 1], a programming error.
func (m *viridisMap) SetAlpha(a float64) {
	if !(a >= 0 && a <= 1) {
		panic(fmt.Sprintf("report: colour map opacity %g outside [0, 1]", a))
	}
	m.alpha = a
}
