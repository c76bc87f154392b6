package train

import (
	"math"

	"github.com/clusterlab/clusterlab/core/rundir"
)

// Linspace is numpy.linspace(start, stop, n): n evenly spaced values with
// both ends included (n == 1 gives [start], n <= 0 nothing).
func Linspace(start, stop float64, n int) []float64 {
	if n <= 0 {
		return nil
	}
	out := make([]float64, n)
	if n == 1 {
		out[0] = start
		return out
	}
	step := (stop - start) / float64(n-1)
	for i := range out {
		out[i] = start + float64(i)*step
	}
	out[n-1] = stop // numpy sets the endpoint exactly
	return out
}

// CosineSchedule is the authors' utils.cosine_scheduler (from DINO): one
// value per iteration over epochs*itersPerEpoch iterations. The first
// warmupEpochs*itersPerEpoch values rise linearly from startWarmup to base
// (Linspace, both ends included); the remaining T values follow
// final + (base-final)/2 * (1 + cos(pi*i/T)) for i = 0..T-1, so the last
// value is close to, not exactly, final.
func CosineSchedule(base, final float64, epochs, itersPerEpoch, warmupEpochs int, startWarmup float64) []float64 {
	total := epochs * itersPerEpoch
	warm := warmupEpochs * itersPerEpoch
	if warm > total {
		warm = total
	}
	out := make([]float64, 0, total)
	if warmupEpochs > 0 {
		out = append(out, Linspace(startWarmup, base, warm)...)
	}
	t := total - warm
	for i := range t {
		out = append(out, final+0.5*(base-final)*(1+math.Cos(math.Pi*float64(i)/float64(t))))
	}
	return out
}

// TeacherTempSchedule is the teacher temperature of each epoch (0-based):
// Linspace(warmup, final, warmupEpochs) during the first warmupEpochs
// epochs, then final. Unlike the authors' code (np.concatenate with
// np.ones(epochs - warmupEpochs)), a warm-up longer than the run is allowed:
// it is simply cut off.
func TeacherTempSchedule(warmup, final float64, warmupEpochs, epochs int) []float64 {
	ramp := Linspace(warmup, final, warmupEpochs)
	out := make([]float64, epochs)
	for e := range out {
		if e < len(ramp) {
			out[e] = ramp[e]
		} else {
			out[e] = final
		}
	}
	return out
}

// schedules holds every per-iteration and per-epoch value of one run
// (docs/TEMI.md section 8).
type schedules struct {
	LR, WD, Momentum []float64 // per iteration
	TeacherTemp      []float64 // per epoch
	ItersPerEpoch    int
	FrozenIters      int // iterations during which the last layer is frozen
}

func newSchedules(c config, itersPerEpoch int) schedules {
	scale := float64(c.BatchSize) / 256 // linear scaling rule
	frozen := c.FreezeLastLayer * itersPerEpoch
	if frozen > c.Epochs*itersPerEpoch {
		frozen = c.Epochs * itersPerEpoch
	}
	return schedules{
		LR:            CosineSchedule(c.LR*scale, c.MinLR*scale, c.Epochs, itersPerEpoch, c.WarmupEpochs, 0),
		WD:            CosineSchedule(c.WeightDecay, c.WeightDecayEnd, c.Epochs, itersPerEpoch, 0, 0),
		Momentum:      CosineSchedule(c.MomentumTeacher, c.MaxMomentumTeacher, c.Epochs, itersPerEpoch, 0, 0),
		TeacherTemp:   TeacherTempSchedule(c.WarmupTeachTemp, c.TeacherTemp, c.WarmupTeacherTempEpochs, c.Epochs),
		ItersPerEpoch: itersPerEpoch,
		FrozenIters:   frozen,
	}
}

// writeCSV writes the schedules to path (schedule.csv), one row per step.
func (s schedules) writeCSV(path string) error {
	steps := make([]rundir.ScheduleStep, len(s.LR))
	for it := range s.LR {
		e := it / s.ItersPerEpoch
		steps[it] = rundir.ScheduleStep{Step: it, Epoch: e + 1, LR: s.LR[it], WeightDecay: s.WD[it],
			TeacherMomentum: s.Momentum[it], TeacherTemp: s.TeacherTemp[e]}
	}
	return rundir.WriteSchedule(path, steps)
}

// AdamW constants (torch.optim.AdamW defaults, as the authors use them).
const (
	adamBeta1 = 0.9
	adamBeta2 = 0.999
	adamEps   = 1e-8
)

// Indices into the step's scalar vector. The host computes them in
// float64, as torch computes its Python-float coefficients.
const (
	scDecay       = iota // 1 - lr*wd, for decayed parameters
	scStepBody           // lr / (1 - beta1^t) for the body (all but the last layer)
	scBC2Body            // sqrt(1 - beta2^t) for the body
	scStepLast           // the same two for the last layer, whose step count
	scBC2Last            // starts when it is unfrozen (torch skips params without grad)
	scUpdateLast         // 1 when the last layer is updated this step, else 0
	scMomentum           // teacher EMA momentum m
	scOneMinusM          // 1 - m
	scTeacherTemp        // teacher temperature of this epoch
	numScalars
)

// stepScalars returns the scalar inputs of global iteration it (0-based).
func (s schedules) stepScalars(it int) []float32 {
	lr, wd, m := s.LR[it], s.WD[it], s.Momentum[it]
	sc := make([]float32, numScalars)
	sc[scDecay] = float32(1 - lr*wd)
	body := it + 1
	sc[scStepBody] = float32(lr / (1 - math.Pow(adamBeta1, float64(body))))
	sc[scBC2Body] = float32(math.Sqrt(1 - math.Pow(adamBeta2, float64(body))))
	if it >= s.FrozenIters {
		last := it + 1 - s.FrozenIters
		sc[scStepLast] = float32(lr / (1 - math.Pow(adamBeta1, float64(last))))
		sc[scBC2Last] = float32(math.Sqrt(1 - math.Pow(adamBeta2, float64(last))))
		sc[scUpdateLast] = 1
	} else {
		// Unused (the update is masked) but kept finite.
		sc[scStepLast], sc[scBC2Last], sc[scUpdateLast] = 0, 1, 0
	}
	sc[scMomentum] = float32(m)
	sc[scOneMinusM] = float32(1 - m)
	sc[scTeacherTemp] = float32(s.TeacherTemp[it/s.ItersPerEpoch])
	return sc
}
