package main

import (
	"slices"
	"testing"
)

// tokenValue makes each value tell where it came from.
func tokenValue(img, tok, j int) float32 { return float32(img*10000 + tok*10 + j) }

// TestPoolPicksTheRightTokens checks the pooling exactly on outputs whose
// values encode image, token and dimension: the CLS token is token 0 (or
// the separate output), the patch mean covers exactly the tokens after the
// registers.
func TestPoolPicksTheRightTokens(t *testing.T) {
	const n, dim, h, w, patch = 2, 3, 28, 42, 14 // 2x3 = 6 patches
	for _, tc := range []struct {
		name         string
		hasCls       bool
		registers    int
		separateCls  bool
		tokens       int
		wantPatches0 int // first patch token
	}{
		{"cls, no registers", true, 0, false, 7, 1},
		{"cls, 4 registers", true, 4, false, 11, 5},
		{"cls, registers deduced", true, autoRegisters, false, 11, 5},
		{"patch tokens only, separate cls", false, 0, true, 6, 0},
		{"registers, no cls, separate cls", false, 2, true, 8, 2},
	} {
		for _, pooling := range []string{poolCLS, poolPatchMean, poolCLSPatchMean} {
			p := params{output: "tokens", outputHasCls: tc.hasCls, registers: tc.registers, patchSize: patch, pooling: pooling}
			clsDim := 0
			if tc.separateCls {
				clsDim = dim
			}
			l, err := tokenLayout(p, tc.tokens, dim, clsDim, h, w)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			out := make([]float32, n*tc.tokens*dim)
			for i := range n {
				for k := range tc.tokens {
					for j := range dim {
						out[(i*tc.tokens+k)*dim+j] = tokenValue(i, k, j)
					}
				}
			}
			var cls []float32
			if tc.separateCls {
				for i := range n {
					for j := range dim {
						cls = append(cls, float32(-1000*(i+1)-j))
					}
				}
			}
			dst := make([]float32, n*l.embedDim())
			l.pool(out, cls, n, dst, make([]float64, dim))
			var want []float32
			for i := range n {
				if pooling != poolPatchMean {
					for j := range dim {
						if tc.separateCls {
							want = append(want, float32(-1000*(i+1)-j))
						} else {
							want = append(want, tokenValue(i, 0, j))
						}
					}
				}
				if pooling != poolCLS {
					for j := range dim {
						var s float64
						for k := tc.wantPatches0; k < tc.tokens; k++ {
							s += float64(tokenValue(i, k, j))
						}
						want = append(want, float32(s/float64(tc.tokens-tc.wantPatches0)))
					}
				}
			}
			if !slices.Equal(dst, want) {
				t.Errorf("%s, %s: pooled %v, want %v", tc.name, pooling, dst, want)
			}
		}
	}
}

func TestTokenLayoutRejectsWrongCounts(t *testing.T) {
	p := params{output: "last_hidden_state", outputHasCls: true, patchSize: 14, pooling: poolCLS}
	for _, tc := range []struct {
		registers, tokens, h, w int
	}{
		{0, 261, 224, 224},             // 4 registers, but 0 set
		{4, 257, 224, 224},             // no registers, but 4 set
		{autoRegisters, 256, 224, 224}, // no room for the CLS token
		{0, 257, 112, 112},             // the input is not 224x224
		{autoRegisters, 1, 10, 10},     // smaller than a patch
		{autoRegisters, 297, 224, 224}, // 40 "registers": wrong patch size
	} {
		p.registers = tc.registers
		if l, err := tokenLayout(p, tc.tokens, 8, 0, tc.h, tc.w); err == nil || !errIsInvalid(err) {
			t.Errorf("registers %d, %d tokens, %dx%d: layout %+v, error %v; want an invalid-input error", tc.registers, tc.tokens, tc.h, tc.w, l, err)
		}
	}
}
