//go:build dnnl

#include "wrap.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

static dnnl_engine_t eng;
static dnnl_stream_t strm;

struct dn_plan {
    dnnl_primitive_t mm;
    dnnl_primitive_t ra, rb; // f32 -> bf16 reorders (bf16 plans only)
    dnnl_memory_t ua, ub, ud; // user buffers (handles set per call)
    dnnl_memory_t sa, sb;     // bf16 copies (bf16 plans only)
    char impl[128];
};

static int fail(dnnl_status_t s, const char *what, char *err, size_t errlen) {
    snprintf(err, errlen, "oneDNN %s: status %d", what, (int)s);
    return s == dnnl_success ? -1 : (int)s;
}

#define CK(call, what)                                                                             \
    do {                                                                                           \
        dnnl_status_t s_ = (call);                                                                 \
        if (s_ != dnnl_success) {                                                                  \
            rc = fail(s_, what, err, errlen);                                                      \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

int dn_init(int nthreads, char *err, size_t errlen) {
    int rc = 0;
    omp_set_num_threads(nthreads);
    if (eng == NULL) {
        CK(dnnl_engine_create(&eng, dnnl_cpu, 0), "engine_create");
        CK(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags), "stream_create");
    }
out:
    return rc;
}

void dn_set_threads(int nthreads) { omp_set_num_threads(nthreads); }
int dn_max_threads(void) { return omp_get_max_threads(); }

const char *dn_version(void) {
    static char buf[96];
    const dnnl_version_t *v = dnnl_version();
    const char *rt = v->cpu_runtime == DNNL_RUNTIME_OMP   ? "OpenMP"
                     : v->cpu_runtime == DNNL_RUNTIME_TBB ? "TBB"
                     : v->cpu_runtime == DNNL_RUNTIME_SEQ ? "sequential"
                                                          : "other";
    snprintf(buf, sizeof buf, "%d.%d.%d (cpu runtime %s)", v->major, v->minor, v->patch, rt);
    return buf;
}

void dn_plan_destroy(dn_plan *p) {
    if (p == NULL) return;
    if (p->mm) dnnl_primitive_destroy(p->mm);
    if (p->ra) dnnl_primitive_destroy(p->ra);
    if (p->rb) dnnl_primitive_destroy(p->rb);
    if (p->ua) dnnl_memory_destroy(p->ua);
    if (p->ub) dnnl_memory_destroy(p->ub);
    if (p->ud) dnnl_memory_destroy(p->ud);
    if (p->sa) dnnl_memory_destroy(p->sa);
    if (p->sb) dnnl_memory_destroy(p->sb);
    free(p);
}

static int make_reorder(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to, dnnl_primitive_t *out,
                        char *err, size_t errlen) {
    int rc = 0;
    dnnl_primitive_desc_t pd = NULL;
    CK(dnnl_reorder_primitive_desc_create(&pd, from, eng, to, eng, NULL), "reorder_primitive_desc_create");
    CK(dnnl_primitive_create(out, pd), "reorder primitive_create");
out:
    if (pd) dnnl_primitive_desc_destroy(pd);
    return rc;
}

int dn_plan_create(int64_t m, int64_t k, int64_t n, int ta, int tb, int bf16, int acc,
                   dn_plan **outp, char *err, size_t errlen) {
    int rc = 0;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dn_plan *p = calloc(1, sizeof *p);
    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (eng == NULL) {
        snprintf(err, errlen, "oneDNN engine not initialised");
        rc = -1;
        goto out;
    }
    dnnl_dims_t da = {m, k}, db = {k, n}, dd = {m, n};
    // op(a) is [m,k]: a stored [k,m] row-major is the [m,k] matrix with
    // strides (1, m), oneDNN's tag "ba"; likewise b.
    dnnl_format_tag_t tga = ta ? dnnl_ba : dnnl_ab, tgb = tb ? dnnl_ba : dnnl_ab;
    dnnl_memory_desc_t fa, fb, fd, ma, mb;
    CK(dnnl_memory_desc_init_by_tag(&fa, 2, da, dnnl_f32, tga), "memory_desc a");
    CK(dnnl_memory_desc_init_by_tag(&fb, 2, db, dnnl_f32, tgb), "memory_desc b");
    CK(dnnl_memory_desc_init_by_tag(&fd, 2, dd, dnnl_f32, dnnl_ab), "memory_desc dst");
    ma = fa;
    mb = fb;
    if (bf16) {
        // Same layouts in bfloat16, so that each conversion is one
        // streaming pass. (oneDNN 2.6 ignores fpmath_mode bf16 for an
        // f32 matmul: it still picks brg:avx512_core, exact fp32.)
        CK(dnnl_memory_desc_init_by_tag(&ma, 2, da, dnnl_bf16, tga), "memory_desc a bf16");
        CK(dnnl_memory_desc_init_by_tag(&mb, 2, db, dnnl_bf16, tgb), "memory_desc b bf16");
    }
    dnnl_matmul_desc_t md;
    CK(dnnl_matmul_desc_init(&md, &ma, &mb, NULL, &fd), "matmul_desc_init");
    CK(dnnl_primitive_attr_create(&attr), "primitive_attr_create");
    if (acc) {
        CK(dnnl_post_ops_create(&po), "post_ops_create");
        CK(dnnl_post_ops_append_sum(po, 1.0f), "post_ops_append_sum");
        CK(dnnl_primitive_attr_set_post_ops(attr, po), "attr_set_post_ops");
    }
    CK(dnnl_primitive_desc_create(&pd, &md, attr, eng, NULL), "matmul primitive_desc_create");
    const char *impl = NULL;
    CK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl), "query impl");
    snprintf(p->impl, sizeof p->impl, "%s", impl ? impl : "?");
    CK(dnnl_primitive_create(&p->mm, pd), "matmul primitive_create");
    CK(dnnl_memory_create(&p->ua, &fa, eng, DNNL_MEMORY_NONE), "memory_create a");
    CK(dnnl_memory_create(&p->ub, &fb, eng, DNNL_MEMORY_NONE), "memory_create b");
    CK(dnnl_memory_create(&p->ud, &fd, eng, DNNL_MEMORY_NONE), "memory_create dst");
    if (bf16) {
        CK(dnnl_memory_create(&p->sa, &ma, eng, DNNL_MEMORY_ALLOCATE), "memory_create a bf16");
        CK(dnnl_memory_create(&p->sb, &mb, eng, DNNL_MEMORY_ALLOCATE), "memory_create b bf16");
        if ((rc = make_reorder(&fa, &ma, &p->ra, err, errlen)) != 0) goto out;
        if ((rc = make_reorder(&fb, &mb, &p->rb, err, errlen)) != 0) goto out;
    }
out:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (po) dnnl_post_ops_destroy(po);
    if (rc != 0) {
        dn_plan_destroy(p);
        p = NULL;
    }
    *outp = p;
    return rc;
}

int dn_plan_exec(dn_plan *p, const float *a, const float *b, float *dst, char *err, size_t errlen) {
    int rc = 0;
    CK(dnnl_memory_set_data_handle_v2(p->ua, (void *)a, strm), "set handle a");
    CK(dnnl_memory_set_data_handle_v2(p->ub, (void *)b, strm), "set handle b");
    CK(dnnl_memory_set_data_handle_v2(p->ud, dst, strm), "set handle dst");
    dnnl_memory_t src = p->ua, wei = p->ub;
    if (p->sa) {
        dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, p->ua}, {DNNL_ARG_TO, p->sa}};
        dnnl_exec_arg_t rb[2] = {{DNNL_ARG_FROM, p->ub}, {DNNL_ARG_TO, p->sb}};
        CK(dnnl_primitive_execute(p->ra, strm, 2, ra), "reorder a");
        CK(dnnl_primitive_execute(p->rb, strm, 2, rb), "reorder b");
        src = p->sa;
        wei = p->sb;
    }
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, p->ud}};
    CK(dnnl_primitive_execute(p->mm, strm, 3, args), "matmul execute");
    CK(dnnl_stream_wait(strm), "stream_wait");
out:
    // Go memory must not stay referenced from C after the call.
    dnnl_memory_set_data_handle_v2(p->ua, NULL, strm);
    dnnl_memory_set_data_handle_v2(p->ub, NULL, strm);
    dnnl_memory_set_data_handle_v2(p->ud, NULL, strm);
    return rc;
}

const char *dn_plan_impl(dn_plan *p) { return p->impl; }
