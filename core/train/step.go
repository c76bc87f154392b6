package train

import (
	"fmt"

	"github.com/clusterlab/clusterlab/core/backend"

	"github.com/gomlx/gomlx/core/graph"
)

// stepBuilder builds the one training-step graph: student and teacher
// heads, the GraphLoss, its gradient, AdamW and the teacher EMA.
//
// Inputs, in order (all float32 but the indices):
//
//	student[P], teacher[P], adam_m[P], adam_v[P], lossState[S],
//	data [N, D] (all train embeddings, on the device for the whole run),
//	rows [2B] int32 (anchors then their partners; gathered in the graph),
//	scalars [numScalars] (see the sc* constants)
//
// With hostGather, data and rows are replaced by one input, batch
// [2B, D], the rows already gathered (see deviceRun).
//
// With hostLayer0 (which implies hostGather and hostOptimizer) the host
// also computes the first layer's products: batch is replaced by two
// inputs, zs and zt [H*out0, 2B], the student's and the teacher's
// W0 . (scale x)^T (see layer0), and the first gradient output is dz
// [H*out0, 2B], from which the host forms dW0 = dz . x.
//
// Outputs: student'[P], teacher'[P], adam_m'[P], adam_v'[P],
// lossState'[S], perHead [H]. The trainer feeds the outputs of one step
// back as the inputs of the next, so the state stays on the device.
//
// With hostOptimizer the graph stops at the gradients: its inputs lack
// adam_m and adam_v (student[P], teacher[P], lossState[S], then as above)
// and its outputs are grads[P], lossState'[S], perHead [H]; the host
// applies AdamW and the EMA in one fused pass (optimizer.go), the very
// arithmetic of the update below.
type stepBuilder struct {
	arch          arch
	specs         []paramSpec
	loss          Step
	lossName      string
	stateShapes   [][]int
	studentTemp   float64
	hostGather    bool
	hostOptimizer bool
	hostLayer0    bool
	// bf16 runs the host's first-layer products with bfloat16 inputs and
	// float32 accumulation (the precision option); it needs hostLayer0.
	bf16 bool
	// wantHostLayer0: the run is large enough (or bf16) for host products
	// to pay (wantHostLayer0); newDeviceRun sets hostLayer0 from it where
	// the backend shares its buffers.
	wantHostLayer0 bool
}

// newStepBuilder is the step of a prepared loss on heads a with the loss
// state vars (their shapes).
func newStepBuilder(a arch, p *prepared, state []StateVar) *stepBuilder {
	bf16 := p.cfg.Precision == PrecisionBF16
	stateShapes := make([][]int, len(state))
	for i, s := range state {
		stateShapes[i] = s.Shape
	}
	return &stepBuilder{arch: a, specs: a.params(), loss: p.step, lossName: p.desc.Name, stateShapes: stateShapes,
		studentTemp: p.cfg.StudentTemp, bf16: bf16, wantHostLayer0: wantHostLayer0(a, p.cfg.BatchSize, bf16)}
}

// backendOptions are how to open the backend for this step: with quiet
// threads where the host runs the first layer's products between the
// step graph's runs.
func (sb *stepBuilder) backendOptions() []backend.Option {
	if sb.wantHostLayer0 {
		return []backend.Option{backend.QuietThreads()}
	}
	return nil
}

func (sb *stepBuilder) numParams() int { return len(sb.specs) }
func (sb *stepBuilder) numState() int  { return len(sb.stateShapes) }

// numInputs is the number of inputs of the step graph.
func (sb *stepBuilder) numInputs() int {
	n := 4*sb.numParams() + sb.numState() + 3
	if sb.hostOptimizer {
		n -= 2 * sb.numParams()
	}
	if sb.hostGather {
		n--
	}
	if sb.hostLayer0 {
		n++ // zs and zt instead of batch
	}
	return n
}

// lossAndGrads runs the heads on their input (x [R, D], or the host's
// first-layer products) and returns the per-head losses [H], the new loss
// state and the gradient of the mean loss with respect to every student
// parameter (with the host's products, dz in place of dW0: see backward).
func (sb *stepBuilder) lossAndGrads(student, teacher, state []*graph.Node, studentIn, teacherIn headsInput, teacherTemp *graph.Node) (perHead *graph.Node, newState, grads []*graph.Node) {
	g := studentIn.graph()
	studentOut, cache := sb.arch.forwardCached(student, studentIn)
	teacherLogits, _ := sb.arch.forwardWith(teacher, teacherIn, false)
	teacherOut := graph.StopGradient(teacherLogits)
	perHead, newState = sb.loss.Loss(LossInputs{
		Student:     studentOut,
		Teacher:     teacherOut,
		StudentTemp: graph.Scalar(g, floatDType, sb.studentTemp),
		TeacherTemp: teacherTemp,
		State:       state,
	})
	if perHead == nil || perHead.Rank() != 1 || perHead.Shape().Dimensions[0] != sb.arch.Heads || perHead.DType() != floatDType {
		panic(fmt.Errorf("loss %q returned per-head losses of shape %v, want float32 [%d]", sb.lossName, shapeOf(perHead), sb.arch.Heads))
	}
	if len(newState) != len(state) {
		panic(fmt.Errorf("loss %q returned %d state values, but declared %d in State", sb.lossName, len(newState), len(state)))
	}
	for i, s := range newState {
		if s == nil || !s.Shape().Equal(state[i].Shape()) {
			panic(fmt.Errorf("loss %q returned state #%d of shape %v, want %s", sb.lossName, i, shapeOf(s), state[i].Shape()))
		}
		newState[i] = graph.StopGradient(s)
	}
	// Automatic differentiation through the loss only; the heads'
	// backward pass is written out (see arch.backward).
	dLogits := graph.Gradient(graph.ReduceAllMean(perHead), studentOut)[0]
	return perHead, newState, sb.arch.backward(student, cache, dLogits)
}

func shapeOf(n *graph.Node) any {
	if n == nil {
		return "nil"
	}
	return n.Shape()
}

// build is the graph function of the training step (see stepBuilder).
func (sb *stepBuilder) build(in []*graph.Node) []*graph.Node {
	P, S := sb.numParams(), sb.numState()
	if len(in) != sb.numInputs() {
		panic(fmt.Errorf("train step: got %d inputs, want %d", len(in), sb.numInputs()))
	}
	student, teacher := in[0:P], in[P:2*P]
	var adamM, adamV []*graph.Node
	rest := in[2*P:]
	if !sb.hostOptimizer {
		adamM, adamV, rest = in[2*P:3*P], in[3*P:4*P], in[4*P:]
	}
	state := rest[:S]
	var studentIn, teacherIn headsInput
	var sc *graph.Node
	switch {
	case sb.hostLayer0:
		studentIn, teacherIn = headsInput{z: rest[S]}, headsInput{z: rest[S+1]}
		sc = rest[S+2]
	case sb.hostGather:
		x := rest[S]
		studentIn, teacherIn = headsInput{x: x}, headsInput{x: x}
		sc = rest[S+1]
	default:
		data, rows := rest[S], rest[S+1]
		sc = rest[S+2]
		// The gradient never flows into data, so Gather's int64-index
		// gradient restriction on onnx does not apply.
		x := graph.Gather(data, graph.ExpandAxes(rows, -1)) // [2B, D]
		studentIn, teacherIn = headsInput{x: x}, headsInput{x: x}
	}
	g := sc.Graph()
	scalar := func(i int) *graph.Node { return graph.Reshape(graph.Slice(sc, graph.AxisElem(i))) }

	perHead, newState, grads := sb.lossAndGrads(student, teacher, state, studentIn, teacherIn, scalar(scTeacherTemp))
	if sb.hostOptimizer {
		out := make([]*graph.Node, 0, P+S+1)
		out = append(out, grads...)
		out = append(out, newState...)
		return append(out, perHead)
	}

	decay := scalar(scDecay)
	stepBody, bc2Body := scalar(scStepBody), scalar(scBC2Body)
	stepLast, bc2Last := scalar(scStepLast), scalar(scBC2Last)
	updateLast := graph.GreaterThan(scalar(scUpdateLast), graph.Scalar(g, floatDType, 0.5))
	mom, oneMinusM := scalar(scMomentum), scalar(scOneMinusM)
	b1, oneMinusB1 := graph.Scalar(g, floatDType, adamBeta1), graph.Scalar(g, floatDType, 1-adamBeta1)
	b2, oneMinusB2 := graph.Scalar(g, floatDType, adamBeta2), graph.Scalar(g, floatDType, 1-adamBeta2)
	eps := graph.Scalar(g, floatDType, adamEps)

	newStudent := make([]*graph.Node, P)
	newTeacher := make([]*graph.Node, P)
	newM := make([]*graph.Node, P)
	newV := make([]*graph.Node, P)
	for i, spec := range sb.specs {
		stepSize, bc2 := stepBody, bc2Body
		if spec.Last {
			stepSize, bc2 = stepLast, bc2Last
		}
		// torch.optim.AdamW: p*(1-lr*wd) - lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps),
		// rearranged as p*(1-lr*wd) - (lr/bc1*sqrt(bc2)) * m / (sqrt(v) + eps*sqrt(bc2))
		// to save one pass over the (large) tensors; the difference is
		// float rounding.
		p := student[i]
		if spec.Decay {
			p = graph.Mul(p, decay)
		}
		grad := grads[i]
		m := graph.Add(graph.Mul(adamM[i], b1), graph.Mul(grad, oneMinusB1))
		v := graph.Add(graph.Mul(adamV[i], b2), graph.Mul(graph.Mul(grad, grad), oneMinusB2))
		denom := graph.Add(graph.Sqrt(v), graph.Mul(eps, bc2))
		p = graph.Sub(p, graph.Mul(graph.Div(m, denom), graph.Mul(stepSize, bc2)))
		if spec.Last {
			// A frozen last layer is skipped entirely, moments included,
			// as torch does for a parameter whose grad is None.
			p = graph.Where(updateLast, p, student[i])
			m = graph.Where(updateLast, m, adamM[i])
			v = graph.Where(updateLast, v, adamV[i])
		}
		newStudent[i], newM[i], newV[i] = p, m, v
		// Teacher EMA after the optimiser step: t*m + (1-m)*s.
		// (optimizer.go's fusedAdamW repeats every operation of this loop
		// in the same order: change both together.)
		newTeacher[i] = graph.Add(graph.Mul(teacher[i], mom), graph.Mul(oneMinusM, p))
	}
	out := make([]*graph.Node, 0, 4*P+S+1)
	out = append(out, newStudent...)
	out = append(out, newTeacher...)
	out = append(out, newM...)
	out = append(out, newV...)
	out = append(out, newState...)
	return append(out, perHead)
}

// assignBuilder builds the assignment graph: the teacher's logits on x
// [Ba, D] alone, their argmax per head [H, Ba] int32, and the softmax at
// the given temperature of head probsHead only, [Ba, K] (the other heads'
// probabilities are never materialised).
type assignBuilder struct {
	arch      arch
	specs     []paramSpec
	probsHead int
}

// build takes teacher[P], x [Ba, D], temperature (scalar).
func (ab *assignBuilder) build(in []*graph.Node) []*graph.Node {
	P := len(ab.specs)
	teacher, x, temp := in[:P], in[P], in[P+1]
	logits := ab.arch.forward(teacher, x) // [H, Ba, K]
	cluster := graph.ArgMax(logits, -1)   // int32
	dims := logits.Shape().Dimensions
	head := graph.Reshape(graph.Slice(logits, graph.AxisElem(ab.probsHead)), dims[1], dims[2]) // [Ba, K]
	prob := graph.Softmax(graph.Div(head, temp), -1)
	return []*graph.Node{cluster, prob}
}
