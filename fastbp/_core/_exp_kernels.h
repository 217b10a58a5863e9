/* exp for the softmax output, written so that the compiler vectorizes it.
 *
 * glibc's expf/exp are calls the compiler cannot vectorize: with 10 outputs
 * a softmax row cost ~140 ns, a sixth of a digits mini-batch. These are
 * Cephes' exp and expf (S. L. Moshier) in branch-free form: x = n ln2 + r
 * with n = round(x / ln2) (the 1.5 * 2^k trick, no floor call), ln2 in two
 * parts (Cody-Waite), exp(r) by Cephes' polynomial (float) or Pade form
 * (double), then r scaled by 2^n in two exact halves, so that subnormal
 * results are rounded once and 2^128 needs no special case. Error under
 * 1 ulp (float) and 1.7 ulp (double) in the tests' sweeps; tests/
 * test_kernels.py checks <= 2 ulp against a long double reference over the
 * whole range; +inf above ln(max), 0 below ln(min subnormal / 2), NaN
 * stays NaN.
 *
 * Only +, -, *, / and bit moves: no result depends on the vector width, so
 * the one-element inline form (fastbp_expf1) and the loops (fastbp_vexp_f,
 * vectorized, and cloned for AVX2 without FMA: _clones.h) give the same bits
 * for the same x. Every softmax of fastbp goes through them: training,
 * prediction and the loss without gradient agree bit for bit.
 */
#ifndef FASTBP_EXP_KERNELS_H
#define FASTBP_EXP_KERNELS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "_clones.h"

static inline int32_t fastbp_f2i(float x) { int32_t i; memcpy(&i, &x, 4); return i; }
static inline float fastbp_i2f(int32_t i) { float x; memcpy(&x, &i, 4); return x; }
static inline int64_t fastbp_d2i(double x) { int64_t i; memcpy(&i, &x, 8); return i; }
static inline double fastbp_i2d(int64_t i) { double x; memcpy(&x, &i, 8); return x; }
/* mask ? a : b with mask 0 or all ones, in integer operations: gcc (12)
 * vectorizes no `c ? a : b` on floats, whatever c (unless -fno-trapping-math) */
static inline float fastbp_self(int32_t mask, float a, float b) {
    return fastbp_i2f((fastbp_f2i(a) & mask) | (fastbp_f2i(b) & ~mask));
}
static inline double fastbp_seld(int64_t mask, double a, double b) {
    return fastbp_i2d((fastbp_d2i(a) & mask) | (fastbp_d2i(b) & ~mask));
}

static inline float fastbp_expf1(float x) {
    const float hi = 88.72283172607421875f;     /* largest x with finite exp(x) */
    const float lo = -103.972076416015625f;     /* about ln(2^-150): below, 0 */
    const float magic = 12582912.0f;            /* 1.5 * 2^23 */
    /* The range tests compare bits (x > hi: as signed; x < lo: as unsigned;
     * a NaN's own bits are handled last) */
    int32_t ix = fastbp_f2i(x);
    int32_t over = -(int32_t)(ix > fastbp_f2i(hi));
    int32_t under = -(int32_t)((uint32_t)ix > (uint32_t)fastbp_f2i(lo));
    float xc = fastbp_self(over, hi, x);
    xc = fastbp_self(under, lo, xc);
    float t = xc * 1.44269504088896341f + magic;   /* n = round(x / ln2) */
    float n = t - magic;
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float r2 = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r2 + r + 1.0f;
    /* (unsigned where a NaN's bits would overflow a signed int) */
    int32_t ni = (int32_t)((uint32_t)fastbp_f2i(t) - (uint32_t)fastbp_f2i(magic));
    int32_t n1 = ni >> 1, n2 = ni - n1;       /* n: -150 .. 128; n1, n2: -75 .. 64 */
    float y = p * fastbp_i2f((int32_t)((uint32_t)(n1 + 127) << 23))
                * fastbp_i2f((int32_t)((uint32_t)(n2 + 127) << 23));
    y = fastbp_self(over, HUGE_VALF, y);
    y = fastbp_self(under, 0.0f, y);
    return isnan(x) ? x : y;
}

static inline double fastbp_exp1(double x) {
    const double hi = 709.782712893383973096;   /* ln(DBL_MAX) */
    const double lo = -745.1332191019412;       /* about ln(2^-1075): below, 0 */
    const double magic = 6755399441055744.0;    /* 1.5 * 2^52 */
    int64_t ix = fastbp_d2i(x);
    int64_t over = -(int64_t)(ix > fastbp_d2i(hi));
    int64_t under = -(int64_t)((uint64_t)ix > (uint64_t)fastbp_d2i(lo));
    double xc = fastbp_seld(over, hi, x);
    xc = fastbp_seld(under, lo, xc);
    double t = xc * 1.4426950408889634073599 + magic;
    double n = t - magic;
    double r = xc - n * 6.93145751953125e-1;
    r = r - n * 1.42860682030941723212e-6;
    double rr = r * r;
    double px = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr
                     + 9.99999999999999999910e-1);
    double qx = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr
                 + 2.27265548208155028766e-1) * rr + 2.00000000000000000009e0;
    double e = 1.0 + 2.0 * (px / (qx - px));
    /* n = n1 + n2, n1 = floor(n / 2) by the same rounding trick (vector
     * units have no 64-bit arithmetic shift before AVX-512) */
    double t1 = (n * 0.5 - 0.25) + magic;
    uint64_t m = (uint64_t)fastbp_d2i(magic);
    uint64_t ni = (uint64_t)fastbp_d2i(t) - m;     /* n: -1075 .. 1024 */
    uint64_t n1 = (uint64_t)fastbp_d2i(t1) - m, n2 = ni - n1;
    double y = e * fastbp_i2d((int64_t)((n1 + 1023) << 52))
                 * fastbp_i2d((int64_t)((n2 + 1023) << 52));
    y = fastbp_seld(over, HUGE_VAL, y);
    y = fastbp_seld(under, 0.0, y);
    return isnan(x) ? x : y;
}

/* out[i] = exp(x[i]) (the arrays must not overlap), and x[i] = exp(x[i]) */
FASTBP_CLONES static void fastbp_vexp_f(float *restrict out,
                                        const float *restrict x, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) out[i] = fastbp_expf1(x[i]);
}
FASTBP_CLONES static void fastbp_vexp_inplace_f(float *x, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) x[i] = fastbp_expf1(x[i]);
}
FASTBP_CLONES static void fastbp_vexp_d(double *restrict out,
                                        const double *restrict x, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) out[i] = fastbp_exp1(x[i]);
}
FASTBP_CLONES static void fastbp_vexp_inplace_d(double *x, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) x[i] = fastbp_exp1(x[i]);
}

#endif
