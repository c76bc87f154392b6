// Package dnnl multiplies float32 row-major matrices with oneDNN's
// matmul (Debian's libdnnl, 2.6), in exact fp32 or with the inputs
// rounded to bfloat16 and fp32 accumulation, which on CPUs with AMX-BF16
// (Sapphire Rapids) runs several times faster than fp32.
//
// oneDNN is linked dynamically: Debian ships no static libdnnl, so the
// binaries that use this package need Debian's libdnnl2 (and, through
// it, libgomp1, libstdc++6 and ocl-icd-libopencl1) at run time;
// building needs libdnnl-dev. So the package is compiled in only with the
// dnnl build tag (the Makefile sets it); without it the package is empty
// and the trainer runs every product in its step graph.
//
// Threads: Debian builds oneDNN on OpenMP (GNU libgomp). OpenMP keeps its
// thread count, and its pool of worker threads, per calling OS thread, and
// oneDNN fixes a primitive's work split for the count in force when it is
// created. Go runs cgo calls on whichever OS thread the goroutine happens
// to be on, which would size and spawn a pool per thread; so every call
// is handed to one goroutine locked to its OS thread, and all products
// run there, one at a time, with Threads() threads (GOMAXPROCS by
// default). Other thread pools share the cores: libgomp's idle workers
// spin for a while after each product before they sleep (about 4 ms of a
// core here; GOMP_SPINCOUNT and OMP_WAIT_POLICY, read at process start:
// OMP_WAIT_POLICY=passive gives the cores back at once, at no measured
// cost to the products), and ONNX Runtime's intra-op workers spin after
// each run (about 30 ms of a core here), which halves the speed of a
// product started in that time. Go code running meanwhile on other
// threads competes too.
package dnnl
