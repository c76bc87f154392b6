#include "kernel.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

// OpenBLAS's own entry points (declared by its cblas.h too).
void openblas_set_num_threads(int num_threads);
char *openblas_get_corename(void);

const char *lr_blas_init(void) {
	openblas_set_num_threads(1);
	return openblas_get_corename();
}

// softplus is log(1 + e^z) without overflow.
static double softplus(double z) {
	if (z > 0)
		return z + log1p(exp(-z));
	return log1p(exp(z));
}

static double sigmoid(double z) {
	if (z >= 0)
		return 1 / (1 + exp(-z));
	double e = exp(z);
	return e / (1 + e);
}

// job_tile turns one job's raw scores z (rows x t, row stride ld) into the
// gradient of its loss with respect to them, in place, zero on left-out
// rows, and returns the summed loss of the tile's rows.
static double job_tile(const lr_job *jb, double *z, int32_t ld, int32_t t,
		       const int32_t *y, const int32_t *fold,
		       const int32_t *cls, double *work) {
	const int32_t rows = jb->rows;
	const int32_t *c = cls + jb->cls_off;
	double loss = 0;
	if (rows == 1) {
		// Binomial: logits (0, z); loss log(1+e^z) - y z, gradient
		// sigmoid(z) - y.
		for (int32_t i = 0; i < t; i++) {
			if (fold[i] == jb->fold) {
				z[i] = 0;
				continue;
			}
			double v = z[i];
			loss += softplus(v);
			if (c[y[i]] == 1) {
				loss -= v;
				z[i] = sigmoid(v) - 1;
			} else {
				z[i] = sigmoid(v);
			}
		}
		return loss;
	}
	double *m = work, *s = work + t, *zy = work + 2 * t;
	// Maxima and the true class's score, per data row (a column here).
	memcpy(m, z, sizeof(double) * t);
	for (int32_t r = 1; r < rows; r++) {
		const double *zr = z + (int64_t)r * ld;
		for (int32_t i = 0; i < t; i++)
			m[i] = zr[i] > m[i] ? zr[i] : m[i];
	}
	for (int32_t i = 0; i < t; i++) {
		s[i] = 0;
		zy[i] = fold[i] == jb->fold ? 0 : z[(int64_t)c[y[i]] * ld + i];
	}
	for (int32_t r = 0; r < rows; r++) {
		double *zr = z + (int64_t)r * ld;
		for (int32_t i = 0; i < t; i++) {
			double e = exp(zr[i] - m[i]);
			zr[i] = e;
			s[i] += e;
		}
	}
	// loss_i = logsumexp(z) - z_y with the maximum factored out.
	for (int32_t i = 0; i < t; i++) {
		if (fold[i] == jb->fold) {
			s[i] = 0; // the row's gradient is zero
			continue;
		}
		loss += log(s[i]) + m[i] - zy[i];
		s[i] = 1 / s[i];
	}
	for (int32_t r = 0; r < rows; r++) {
		double *zr = z + (int64_t)r * ld;
		for (int32_t i = 0; i < t; i++)
			zr[i] *= s[i];
	}
	for (int32_t i = 0; i < t; i++)
		if (fold[i] != jb->fold)
			z[(int64_t)c[y[i]] * ld + i] -= 1;
	return loss;
}

// tile_objective adds the intercepts to the raw scores of a tile (R x t,
// row-major), turns them into the gradient of each job's loss, adds the
// jobs' losses to loss and the scores' column sums to gb.
static void tile_objective(double *zt, int32_t t, const double *b, int32_t R,
			   const lr_job *jobs, int32_t njobs, const int32_t *y,
			   const int32_t *fold, const int32_t *cls, double *work,
			   double *gb, double *loss) {
	for (int32_t r = 0; r < R; r++) {
		double *zr = zt + (int64_t)r * t;
		for (int32_t i = 0; i < t; i++)
			zr[i] += b[r];
	}
	for (int32_t j = 0; j < njobs; j++)
		loss[j] += job_tile(&jobs[j], zt + (int64_t)jobs[j].off * t, t, t, y,
				    fold, cls, work);
	for (int32_t r = 0; r < R; r++) {
		const double *zr = zt + (int64_t)r * t;
		double acc = 0;
		for (int32_t i = 0; i < t; i++)
			acc += zr[i];
		gb[r] += acc;
	}
}

void lr_eval(const double *x, int32_t d, int64_t i0, int64_t i1, int32_t tile,
	     const double *w, const double *b, int32_t R,
	     const lr_job *jobs, int32_t njobs, const int32_t *y,
	     const int32_t *fold, const int32_t *cls, double *zt, double *work,
	     double *gw, double *gb, double *loss) {
	for (int64_t a = i0; a < i1; a += tile) {
		int32_t t = (int32_t)(i1 - a < tile ? i1 - a : tile);
		const double *xa = x + a * d;
		// Zt = W Xa^T: one row per stacked weight row, one column per
		// data row (the fastest of OpenBLAS's layouts for both products
		// here).
		cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, t, d, 1, w,
			    d, xa, d, 0, zt, t);
		tile_objective(zt, t, b, R, jobs, njobs, y + a, fold + a, cls, work,
			       gb, loss);
		// gW += G^T Xa, with G^T in zt.
		cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, d, t, 1,
			    zt, t, xa, d, 1, gw, d);
	}
}

void lr_eval32(const float *x, int32_t d, int64_t i0, int64_t i1,
	       int32_t tile, const float *w, const double *b, int32_t R,
	       const lr_job *jobs, int32_t njobs, const int32_t *y,
	       const int32_t *fold, const int32_t *cls, float *zt32,
	       float *gw32, double *zt, double *work, double *gw, double *gb,
	       double *loss) {
	const int64_t rd = (int64_t)R * d;
	for (int64_t a = i0; a < i1; a += tile) {
		int32_t t = (int32_t)(i1 - a < tile ? i1 - a : tile);
		const int64_t rt = (int64_t)R * t;
		const float *xa = x + a * d;
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, t, d, 1, w,
			    d, xa, d, 0, zt32, t);
		for (int64_t q = 0; q < rt; q++)
			zt[q] = zt32[q];
		tile_objective(zt, t, b, R, jobs, njobs, y + a, fold + a, cls, work,
			       gb, loss);
		for (int64_t q = 0; q < rt; q++)
			zt32[q] = (float)zt[q];
		// One tile's gradient in float32, summed into float64: the
		// float32 sums run over tile rows only.
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, d, t, 1,
			    zt32, t, xa, d, 0, gw32, d);
		for (int64_t q = 0; q < rd; q++)
			gw[q] += gw32[q];
	}
}

void lr_decision(const double *x, int64_t n, int32_t d, const double *w,
		 const double *b, int32_t R, double *z) {
	if (n == 0)
		return;
	cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, R, d, 1, x,
		    d, w, d, 0, z, R);
	for (int64_t i = 0; i < n; i++)
		for (int32_t r = 0; r < R; r++)
			z[i * R + r] += b[r];
}
