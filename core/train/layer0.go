package train

import (
	"fmt"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
)

// The host side of the first layer (sb.hostLayer0, see deviceRun): the
// step's rows are gathered into Go memory, the student's and teacher's
// W0 . (scale x)^T are written by hostMatMul straight into the shared
// buffers the step graph reads, and dW0 = dz . x is formed from the dz
// the graph returns. Each product reads w0 in place in the shared buffer
// the optimizer updates (between steps, never during one).

// hostLayer0MinGFLOP is the size of the first layer's three products per
// step (GFLOP) from which fp32 host products pay for their overheads
// (the rows gathered in Go, a oneDNN call per product, ONNX Runtime's
// workers kept from spinning between runs). Measured on the 2-core
// machine (bench/temi_recipe_run, 2026-12-05): 0.4 GFLOP (D 64, 4 heads)
// 24 ms a step against 20 in the graph, 4.8 (D 768, 4 heads) 43 against
// 41, 9.7 (D 384, 16 heads) 110 against 117, 19.7 (the MNIST recipe) 139
// against 148. bf16 always runs on the host: the graph has no bf16 path.
const hostLayer0MinGFLOP = 8.0

// layer0GFLOP is the work of the first layer's three products in one
// step of batch pairs: the student's and teacher's forward and dW0.
func (a arch) layer0GFLOP(batch int) float64 {
	return 3 * 2 * float64(2*batch) * float64(a.D) * float64(a.Heads*a.out0()) / 1e9
}

// wantHostLayer0 says whether a run of heads a at batch pairs a step, in
// bf16 or not, should run its first layer on the host (where the binary
// and the backend can).
func wantHostLayer0(a arch, batch int, bf16 bool) bool {
	return hostProducts && (bf16 || a.layer0GFLOP(batch) >= hostLayer0MinGFLOP)
}

// gather copies the embeddings of rows (already checked) into l.x and,
// scaled, into l.xs.
func (l *layer0Host) gather(data *tensors.Tensor, rows []int32, d int) error {
	n := len(rows) * d
	if cap(l.x) < n {
		l.x = make([]float32, n)
		l.xs = l.x
		if l.scale != 1 {
			l.xs = make([]float32, n)
		}
	}
	l.x, l.xs = l.x[:n], l.xs[:n]
	if err := data.ConstFlatData(func(src any) {
		from := src.([]float32)
		for i, row := range rows {
			x := l.x[i*d : (i+1)*d]
			copy(x, from[int(row)*d:(int(row)+1)*d])
			if l.scale != 1 {
				// The graph's MulScalar(x, scale): one float32 product each.
				for j, v := range x {
					l.xs[i*d+j] = v * l.scale
				}
			}
		}
	}); err != nil {
		return fmt.Errorf("training step: read the train embeddings: %w", err)
	}
	return nil
}

// forward writes zs and zt for a batch of rows embeddings, (re)creating
// them when the batch size changes.
func (l *layer0Host) forward(r *deviceRun, rows int) error {
	w0 := r.sb.specs[0]
	out, d := w0.Shape[0], w0.Shape[1]
	if l.zs == nil || l.zs.Shape().Dimensions[1] != rows {
		l.release()
		for _, z := range []**tensors.Tensor{&l.zs, &l.zt} {
			t, err := tensors.FromShapeForBackend(r.be, 0, shapes.Make(floatDType, out, rows))
			if err != nil {
				return fmt.Errorf("training step: allocate the first layer's outputs on the device: %w", err)
			}
			*z = t
		}
	}
	P := r.sb.numParams()
	for _, p := range []struct {
		name string
		w    *tensors.Tensor
		x    []float32
		z    *tensors.Tensor
	}{{"student", r.state[0], l.xs, l.zs}, {"teacher", r.state[P], l.x, l.zt}} {
		var err error
		werr := p.w.ConstFlatData(func(w any) {
			err = p.z.MutableFlatData(func(z any) {
				err = hostMatMul(z.([]float32), w.([]float32), p.x, out, d, rows, false, true, r.sb.bf16)
			})
		})
		if werr != nil {
			return fmt.Errorf("training step: read the %s's first layer: %w", p.name, werr)
		}
		if err != nil {
			return fmt.Errorf("training step: the %s's first layer: %w", p.name, err)
		}
	}
	return nil
}

// weightGrad forms dW0 = dz . x into l.gw0 from dz [H*out0, R].
func (l *layer0Host) weightGrad(dz *tensors.Tensor, sb *stepBuilder) error {
	w0 := sb.specs[0]
	out, d := w0.Shape[0], w0.Shape[1]
	rows := len(l.x) / d
	if dims := dz.Shape().Dimensions; len(dims) != 2 || dims[0] != out || dims[1] != rows {
		return fmt.Errorf("training step returned dz of shape %v, want [%d %d]", dims, out, rows)
	}
	var err error
	if derr := dz.ConstFlatData(func(g any) {
		err = hostMatMul(l.gw0, g.([]float32), l.x, out, rows, d, false, false, sb.bf16)
	}); derr != nil {
		return fmt.Errorf("training step: read dz: %w", derr)
	}
	if err != nil {
		return fmt.Errorf("training step: the first layer's weight gradient: %w", err)
	}
	return nil
}

func (l *layer0Host) release() {
	for _, z := range []**tensors.Tensor{&l.zs, &l.zt} {
		if *z != nil {
			_ = (*z).FinalizeAll()
			*z = nil
		}
	}
}
