//go:build dnnl && cgo

package dnnl

/*
#cgo CFLAGS: -O2
#cgo LDFLAGS: -ldnnl -lgomp
#include <stdlib.h>
#include "wrap.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// Precision says how the products are computed.
type Precision int

const (
	// F32: exact fp32 products, fp32 accumulation.
	F32 Precision = iota
	// BF16: the inputs are rounded to bfloat16 (nearest even, 8 bits of
	// mantissa), products accumulated in fp32. Each element of the result
	// is off by at most about 2^-8 |a_i|.|b_j| (see the tests).
	BF16
)

func (p Precision) String() string {
	switch p {
	case F32:
		return "f32"
	case BF16:
		return "bf16"
	}
	return fmt.Sprintf("Precision(%d)", int(p))
}

// ErrShape is wrapped by the errors of calls whose dimensions do not fit
// their slices: a bug of the caller.
var ErrShape = errors.New("dnnl: matrix shape does not fit")

// maxPlans bounds the cache: a bf16 plan holds bfloat16 copies of both
// inputs (tens of MB at the TEMI shapes).
const maxPlans = 32

type key struct {
	m, k, n    int
	ta, tb     bool
	prec       Precision
	accumulate bool
}

type plan struct {
	p    *C.dn_plan
	impl string
	used uint64 // last use, for eviction
}

// The worker owns everything below; the Go side reaches it through run.
var (
	startOnce sync.Once
	startErr  error
	calls     chan func()

	plans   = map[key]*plan{}
	tick    uint64
	threads int
	hits    uint64
	misses  uint64
)

func start() {
	startOnce.Do(func() {
		calls = make(chan func())
		ready := make(chan error)
		go func() {
			runtime.LockOSThread() // never unlocked: the OpenMP pool lives on this thread
			threads = runtime.GOMAXPROCS(0)
			var buf [256]C.char
			if rc := C.dn_init(C.int(threads), &buf[0], C.size_t(len(buf))); rc != 0 {
				ready <- fmt.Errorf("dnnl: initialising oneDNN: %s", C.GoString(&buf[0]))
				return
			}
			ready <- nil
			for f := range calls {
				f()
			}
		}()
		startErr = <-ready
	})
}

// run executes f on the worker thread and waits for it.
func run(f func()) error {
	start()
	if startErr != nil {
		return startErr
	}
	done := make(chan struct{})
	calls <- func() { f(); close(done) }
	<-done
	return nil
}

// SetThreads sets the number of threads the products use (at least 1);
// cached plans are dropped, since oneDNN sizes them for a count.
func SetThreads(n int) error {
	if n < 1 {
		return fmt.Errorf("dnnl: %d threads: need at least 1: %w", n, ErrShape)
	}
	return run(func() {
		if n == threads {
			return
		}
		for k, p := range plans {
			C.dn_plan_destroy(p.p)
			delete(plans, k)
		}
		C.dn_set_threads(C.int(n))
		threads = n
	})
}

// Threads is the number of threads the products use.
func Threads() (int, error) {
	var n int
	err := run(func() { n = int(C.dn_max_threads()) })
	return n, err
}

// Version names the oneDNN library and its CPU threading runtime, e.g.
// "2.6.3 (cpu runtime OpenMP)".
func Version() string { return C.GoString(C.dn_version()) }

// CacheStats counts plan look-ups that found a cached plan (hits) and
// that had to create one (misses), and the plans now cached.
type CacheStats struct {
	Hits, Misses uint64
	Plans        int
}

// Stats reports the plan cache's counters.
func Stats() (CacheStats, error) {
	var s CacheStats
	err := run(func() { s = CacheStats{Hits: hits, Misses: misses, Plans: len(plans)} })
	return s, err
}

// MatMul sets dst[m,n] = op(a)[m,k] . op(b)[k,n], every matrix float32
// row-major: a is [m,k], or [k,m] when transA; b is [k,n], or [n,k] when
// transB. dst must not overlap a or b. The slices may be longer than
// their matrices; the extra elements are neither read nor written.
func MatMul(dst, a, b []float32, m, k, n int, transA, transB bool, prec Precision) error {
	return matmul(dst, a, b, m, k, n, transA, transB, prec, false)
}

// MatMulAdd is MatMul adding the product to dst (dst += op(a).op(b)),
// for gradients accumulated over several products.
func MatMulAdd(dst, a, b []float32, m, k, n int, transA, transB bool, prec Precision) error {
	return matmul(dst, a, b, m, k, n, transA, transB, prec, true)
}

// Impl names the oneDNN implementation a product would run (e.g.
// "brg:avx512_core_amx_bf16"), creating and caching its plan.
func Impl(m, k, n int, transA, transB bool, prec Precision) (string, error) {
	if err := checkDims(m, k, n, prec); err != nil {
		return "", err
	}
	var impl string
	var err error
	if rerr := run(func() {
		var p *plan
		if p, err = lookup(key{m, k, n, transA, transB, prec, false}); err == nil {
			impl = p.impl
		}
	}); rerr != nil {
		return "", rerr
	}
	return impl, err
}

func checkDims(m, k, n int, prec Precision) error {
	if prec != F32 && prec != BF16 {
		return fmt.Errorf("dnnl: unknown precision %d (use F32 or BF16): %w", int(prec), ErrShape)
	}
	if m < 1 || k < 1 || n < 1 {
		return fmt.Errorf("dnnl: dimensions m %d, k %d, n %d: each must be at least 1: %w", m, k, n, ErrShape)
	}
	// oneDNN takes int64 dimensions; keep every element count an int.
	const lim = 1 << 40
	if m > lim/k || k > lim/n || m > lim/n {
		return fmt.Errorf("dnnl: dimensions m %d, k %d, n %d are too large: %w", m, k, n, ErrShape)
	}
	return nil
}

func overlap(x, y []float32, nx, ny int) bool {
	px := uintptr(unsafe.Pointer(unsafe.SliceData(x)))
	py := uintptr(unsafe.Pointer(unsafe.SliceData(y)))
	return px < py+uintptr(ny)*4 && py < px+uintptr(nx)*4
}

func matmul(dst, a, b []float32, m, k, n int, transA, transB bool, prec Precision, acc bool) error {
	if err := checkDims(m, k, n, prec); err != nil {
		return err
	}
	shapeA, shapeB := [2]int{m, k}, [2]int{k, n}
	if transA {
		shapeA = [2]int{k, m}
	}
	if transB {
		shapeB = [2]int{n, k}
	}
	for _, c := range []struct {
		name  string
		have  int
		shape [2]int
	}{{"a", len(a), shapeA}, {"b", len(b), shapeB}, {"dst", len(dst), [2]int{m, n}}} {
		if c.have < c.shape[0]*c.shape[1] {
			return fmt.Errorf("dnnl: %s holds %d elements, a [%d,%d] matrix needs %d: %w",
				c.name, c.have, c.shape[0], c.shape[1], c.shape[0]*c.shape[1], ErrShape)
		}
	}
	if overlap(dst, a, m*n, m*k) || overlap(dst, b, m*n, k*n) {
		return fmt.Errorf("dnnl: dst overlaps an input; use a separate buffer: %w", ErrShape)
	}
	var err error
	if rerr := run(func() {
		var p *plan
		if p, err = lookup(key{m, k, n, transA, transB, prec, acc}); err != nil {
			return
		}
		var buf [256]C.char
		// The slices are Go memory without Go pointers, used by C only
		// during the call (the plan drops the handles before returning).
		if rc := C.dn_plan_exec(p.p, (*C.float)(unsafe.Pointer(&a[0])), (*C.float)(unsafe.Pointer(&b[0])),
			(*C.float)(unsafe.Pointer(&dst[0])), &buf[0], C.size_t(len(buf))); rc != 0 {
			err = fmt.Errorf("dnnl: %s product [%d,%d]x[%d,%d]: %s", prec, m, k, k, n, C.GoString(&buf[0]))
		}
	}); rerr != nil {
		return rerr
	}
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	runtime.KeepAlive(dst)
	return err
}

// lookup returns the cached plan for k, creating it (and evicting the
// least recently used plan when the cache is full). Worker only.
func lookup(k key) (*plan, error) {
	tick++
	if p, ok := plans[k]; ok {
		hits++
		p.used = tick
		return p, nil
	}
	misses++
	if len(plans) >= maxPlans {
		var oldest key
		var ou uint64 = ^uint64(0)
		for kk, p := range plans {
			if p.used < ou {
				oldest, ou = kk, p.used
			}
		}
		C.dn_plan_destroy(plans[oldest].p)
		delete(plans, oldest)
	}
	var cp *C.dn_plan
	var buf [256]C.char
	if rc := C.dn_plan_create(C.int64_t(k.m), C.int64_t(k.k), C.int64_t(k.n), cbool(k.ta), cbool(k.tb),
		cbool(k.prec == BF16), cbool(k.accumulate), &cp, &buf[0], C.size_t(len(buf))); rc != 0 {
		return nil, fmt.Errorf("dnnl: preparing a %s product [%d,%d]x[%d,%d]: %s", k.prec, k.m, k.k, k.k, k.n, C.GoString(&buf[0]))
	}
	p := &plan{p: cp, impl: C.GoString(C.dn_plan_impl(cp)), used: tick}
	plans[k] = p
	return p, nil
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
