package main

import (
	"fmt"
	"strings"
)

// layout says where an image's embedding lies in the model's outputs.
type layout struct {
	pooling string
	// The main output: tokens [N, T, D] (tokens > 0) or one vector [N, D]
	// per image (tokens == 0, then the CLS embedding).
	tokens, dim int
	// clsAt is the CLS token's index in the tokens, or -1 when the CLS
	// embedding comes from the separate cls output (clsDim values per
	// image) or the main output is a vector.
	clsAt      int
	clsDim     int
	firstPatch int // index of the first patch token
	patches    int
}

// tokenLayout works out the layout of a token output of tokens x dim per
// image, for a model input of h x w pixels. The patch tokens are the last
// (h/patch)*(w/patch) tokens; before them come the CLS token (when the
// output has one) and the registers. registers < 0 deduces their number.
// clsDim is the size of the separate CLS output (0 when there is none).
func tokenLayout(p params, tokens, dim, clsDim, h, w int) (layout, error) {
	grid := (h / p.patchSize) * (w / p.patchSize)
	l := layout{pooling: p.pooling, tokens: tokens, dim: dim, clsAt: -1, clsDim: clsDim, patches: grid}
	cls := 0
	if p.outputHasCls {
		cls = 1
	}
	prefix := tokens - grid
	what := fmt.Sprintf("output %q has %d tokens per image; a %dx%d input with patch_size %d makes %d patch tokens (%dx%d)",
		p.output, tokens, h, w, p.patchSize, grid, h/p.patchSize, w/p.patchSize)
	switch {
	case grid == 0:
		return layout{}, invalid("a %dx%d input is smaller than one %d-pixel patch; raise resize or check patch_size", h, w, p.patchSize)
	case p.registers == autoRegisters && (prefix < cls || prefix-cls > maxAutoRegisters):
		return layout{}, invalid("%s, so %d tokens come before them, which does not fit output_has_cls=%v and 0 to %d registers; %s",
			what, prefix, p.outputHasCls, maxAutoRegisters, patchSizeHint(tokens, cls, h, w))
	case p.registers >= 0 && prefix != cls+p.registers:
		return layout{}, invalid("%s, so %d tokens come before them, but output_has_cls=%v and registers=%d expect %d; set registers: %d (or -1 to deduce it), or check patch_size",
			what, prefix, p.outputHasCls, p.registers, cls+p.registers, prefix-cls)
	}
	if p.outputHasCls && clsDim == 0 {
		l.clsAt = 0
		l.clsDim = dim
	}
	l.firstPatch = prefix
	return l, nil
}

// maxAutoRegisters bounds the registers deduced from the token count
// (DINOv2 models have 0 or 4): more means the patch size is wrong.
const maxAutoRegisters = 16

// patchSizeHint names the usual patch sizes that explain the token count.
func patchSizeHint(tokens, cls, h, w int) string {
	var fits []string
	for _, ps := range []int{8, 14, 16, 32} {
		if r := tokens - cls - (h/ps)*(w/ps); r >= 0 && r <= maxAutoRegisters {
			fits = append(fits, fmt.Sprintf("patch_size: %d (with %d registers)", ps, r))
		}
	}
	if len(fits) == 0 {
		return "check patch_size, output_has_cls and resize"
	}
	return "the token count fits " + strings.Join(fits, " or ") + "; set patch_size and registers to match the model"
}

// vectorLayout is the layout of a [N, D] output: the CLS embedding.
func vectorLayout(p params, dim int) layout {
	return layout{pooling: p.pooling, dim: dim, clsAt: -1, clsDim: dim}
}

// embedDim is the size of one embedding.
func (l layout) embedDim() int {
	switch l.pooling {
	case poolCLS:
		return l.clsDim
	case poolPatchMean:
		return l.dim
	}
	return l.clsDim + l.dim
}

// pool writes the embeddings of n images to dst (n x embedDim): out holds
// the main output of at least n images, cls the separate CLS output (nil
// when there is none). The patch mean is accumulated in float64.
func (l layout) pool(out, cls []float32, n int, dst []float32, acc []float64) {
	e := l.embedDim()
	for i := range n {
		row := dst[i*e : (i+1)*e]
		if l.pooling != poolPatchMean {
			var c []float32
			switch {
			case l.tokens == 0: // a vector per image
				c = out[i*l.dim : (i+1)*l.dim]
			case l.clsAt >= 0:
				t := out[i*l.tokens*l.dim:]
				c = t[l.clsAt*l.dim : (l.clsAt+1)*l.dim]
			default:
				c = cls[i*l.clsDim : (i+1)*l.clsDim]
			}
			copy(row, c)
			row = row[len(c):]
		}
		if l.pooling == poolCLS {
			continue
		}
		clear(acc[:l.dim])
		img := out[i*l.tokens*l.dim : (i+1)*l.tokens*l.dim]
		for t := l.firstPatch; t < l.firstPatch+l.patches; t++ {
			for j, v := range img[t*l.dim : (t+1)*l.dim] {
				acc[j] += float64(v)
			}
		}
		for j := range row {
			row[j] = float32(acc[j] / float64(l.patches))
		}
	}
}
