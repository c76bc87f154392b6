package logreg

// The products run in OpenBLAS (float64 dgemm, as numpy's and hence
// scikit-learn's), linked statically so that binaries need no OpenBLAS at
// run time; building needs Debian's libopenblas-dev (pthread flavour, the
// default).

/*
#cgo CFLAGS: -O2
#cgo LDFLAGS: -l:libopenblas.a -lpthread -lm
#include "kernel.h"
*/
import "C"

import (
	"sync"
	"unsafe"
)

var (
	blasOnce sync.Once
	blasCore string
)

// initBLAS makes OpenBLAS single-threaded, once: the package splits the
// data rows over its own workers, which keeps every core busy through the
// softmax between the products too, where OpenBLAS's pool would spin.
func initBLAS() {
	blasOnce.Do(func() { blasCore = C.GoString(C.lr_blas_init()) })
}

// BLASCore names the OpenBLAS kernel in use (e.g. "SkylakeX"), for logs.
func BLASCore() string {
	initBLAS()
	return blasCore
}

// cJob mirrors lr_job.
type cJob = C.lr_job

func newCJob(off, rows, fold, clsOff int) cJob {
	return cJob{off: C.int32_t(off), rows: C.int32_t(rows), fold: C.int32_t(fold), cls_off: C.int32_t(clsOff)}
}

// evalRows calls lr_eval on data rows [i0, i1); see kernel.h. Every slice
// is Go memory without Go pointers, used by C only during the call.
func evalRows(x []float64, d, i0, i1, tile int, w, b []float64, r int, jobs []cJob,
	y, fold, cls []int32, zt, work, gw, gb, loss []float64) {
	if i1 <= i0 {
		return
	}
	C.lr_eval((*C.double)(unsafe.Pointer(&x[0])), C.int32_t(d), C.int64_t(i0), C.int64_t(i1), C.int32_t(tile),
		(*C.double)(unsafe.Pointer(&w[0])), (*C.double)(unsafe.Pointer(&b[0])), C.int32_t(r),
		&jobs[0], C.int32_t(len(jobs)), (*C.int32_t)(unsafe.Pointer(&y[0])),
		(*C.int32_t)(unsafe.Pointer(&fold[0])), (*C.int32_t)(unsafe.Pointer(&cls[0])),
		(*C.double)(unsafe.Pointer(&zt[0])), (*C.double)(unsafe.Pointer(&work[0])),
		(*C.double)(unsafe.Pointer(&gw[0])), (*C.double)(unsafe.Pointer(&gb[0])), (*C.double)(unsafe.Pointer(&loss[0])))
}

// evalRows32 calls lr_eval32; see kernel.h.
func evalRows32(x []float32, d, i0, i1, tile int, w []float32, b []float64, r int, jobs []cJob,
	y, fold, cls []int32, zt32, gw32 []float32, zt, work, gw, gb, loss []float64) {
	if i1 <= i0 {
		return
	}
	C.lr_eval32((*C.float)(unsafe.Pointer(&x[0])), C.int32_t(d), C.int64_t(i0), C.int64_t(i1), C.int32_t(tile),
		(*C.float)(unsafe.Pointer(&w[0])), (*C.double)(unsafe.Pointer(&b[0])), C.int32_t(r),
		&jobs[0], C.int32_t(len(jobs)), (*C.int32_t)(unsafe.Pointer(&y[0])),
		(*C.int32_t)(unsafe.Pointer(&fold[0])), (*C.int32_t)(unsafe.Pointer(&cls[0])),
		(*C.float)(unsafe.Pointer(&zt32[0])), (*C.float)(unsafe.Pointer(&gw32[0])),
		(*C.double)(unsafe.Pointer(&zt[0])), (*C.double)(unsafe.Pointer(&work[0])),
		(*C.double)(unsafe.Pointer(&gw[0])), (*C.double)(unsafe.Pointer(&gb[0])), (*C.double)(unsafe.Pointer(&loss[0])))
}

// decision writes z = x w^T + b (n x r) for n rows of x (n x d).
func decision(x []float64, n, d int, w, b []float64, r int, z []float64) {
	if n == 0 {
		return
	}
	C.lr_decision((*C.double)(unsafe.Pointer(&x[0])), C.int64_t(n), C.int32_t(d),
		(*C.double)(unsafe.Pointer(&w[0])), (*C.double)(unsafe.Pointer(&b[0])), C.int32_t(r),
		(*C.double)(unsafe.Pointer(&z[0])))
}
