// The C side of package dnnl: one oneDNN matmul "plan" per shape,
// layout and precision, created and run on the package's one worker
// thread (see dnnl.go for why one thread).
#ifndef CLUSTERLAB_DNNL_WRAP_H
#define CLUSTERLAB_DNNL_WRAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct dn_plan dn_plan;

// dn_init creates the CPU engine and stream, once, and sets the OpenMP
// thread count of the calling thread (the worker) to nthreads. It returns
// 0, or a oneDNN status with a message in err.
int dn_init(int nthreads, char *err, size_t errlen);

// dn_set_threads sets the calling thread's OpenMP thread count; plans
// created before keep the count they were created with (oneDNN sizes
// its kernels' work split at creation), so the Go side drops them.
void dn_set_threads(int nthreads);
int dn_max_threads(void);

// dn_plan_create prepares dst[m,n] (+)= op(a)[m,k] . op(b)[k,n] for
// row-major float32 a ([k,m] when ta), b ([n,k] when tb) and dst. With
// bf16 the inputs are converted (round to nearest even) into bfloat16
// buffers the plan owns and multiplied with fp32 accumulation; with acc
// the product is added to dst (oneDNN's sum post-op).
int dn_plan_create(int64_t m, int64_t k, int64_t n, int ta, int tb, int bf16, int acc,
                   dn_plan **out, char *err, size_t errlen);

// dn_plan_exec runs a plan on the given buffers, which oneDNN uses only
// during the call.
int dn_plan_exec(dn_plan *p, const float *a, const float *b, float *dst, char *err, size_t errlen);

// dn_plan_impl names the oneDNN implementation of the plan's product
// (e.g. "brg:avx512_core_amx_bf16").
const char *dn_plan_impl(dn_plan *p);
void dn_plan_destroy(dn_plan *p);

// dn_version: "2.6.3 (cpu runtime OpenMP)".
const char *dn_version(void);

#endif
