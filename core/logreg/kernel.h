// The objective kernel of package logreg: products in OpenBLAS's dgemm,
// the softmax, loss and its gradient in C (glibc's exp is about three times
// faster than Go's math.Exp, and the softmax is about a tenth of the work
// at K = 100).
#ifndef CLUSTERLAB_LOGREG_KERNEL_H
#define CLUSTERLAB_LOGREG_KERNEL_H

#include <stdint.h>

// One fit of a batch: its weight rows are rows [off, off+rows) of the
// stacked weights. rows is the number of classes, or 1 for sklearn's
// binomial case (two classes). Data rows i with fold[i] == fold are left
// out (fold -1 keeps all rows). The class index of data row i is
// cls[cls_off + y[i]].
typedef struct {
	int32_t off;
	int32_t rows;
	int32_t fold;
	int32_t cls_off;
} lr_job;

// lr_eval adds, over data rows [i0, i1) of x (row-major, d columns), each
// job's summed cross-entropy to loss[j], its weight gradient to gw (R x d,
// row-major, the jobs' rows stacked) and its intercept gradient to gb (R).
// w (R x d) and b (R) are the stacked weights and intercepts; zt is
// scratch of R x tile doubles, work of 3 x tile doubles.
void lr_eval(const double *x, int32_t d, int64_t i0, int64_t i1, int32_t tile,
	     const double *w, const double *b, int32_t R,
	     const lr_job *jobs, int32_t njobs, const int32_t *y,
	     const int32_t *fold, const int32_t *cls, double *zt, double *work,
	     double *gw, double *gb, double *loss);

// lr_eval32 is lr_eval with x and w in float32 and both products in
// sgemm; the scores are turned into gradients in float64, and each tile's
// weight gradient is added to gw in float64. zt32 is scratch of R x tile
// floats, gw32 of R x d floats, zt of R x tile doubles.
void lr_eval32(const float *x, int32_t d, int64_t i0, int64_t i1,
	       int32_t tile, const float *w, const double *b, int32_t R,
	       const lr_job *jobs, int32_t njobs, const int32_t *y,
	       const int32_t *fold, const int32_t *cls, float *zt32,
	       float *gw32, double *zt, double *work, double *gw, double *gb,
	       double *loss);

// lr_decision writes z = x w^T + b for n rows of x (n x d) and R rows of
// w: z is n x R, row-major.
void lr_decision(const double *x, int64_t n, int32_t d, const double *w,
		 const double *b, int32_t R, double *z);

// lr_blas_init makes OpenBLAS single-threaded (the package runs its own
// workers) and returns its kernel's name.
const char *lr_blas_init(void);

#endif
