/* The elementwise passes next to a layer's products that every ReLU
 * network runs at each step: bias + ReLU after the forward product, the
 * identity layer's bias, ReLU's derivative after the backward product and
 * the bias gradient (column sums of the layer's delta), in float and
 * double, compiled for AVX-512F, AVX2 and the baseline (_clones.h).
 *
 * Written in Cython they compile for the baseline alone, 4 floats a
 * vector, where the products' own kernel runs 16: on the bench's
 * 784-1024-1024 case at batch 256 they took 3.4% of a fit, as these 1.5%
 * (perf record over 20 fits of 20000 rows). Each element is computed by the same operations in
 * the same order as the Cython loops it replaces (a select, one add, or
 * one column sum from row 0 down), so every version gives the same bits
 * (benchmarks/weight_hashes.py; tests/test_kernels.py). */
#ifndef FASTBP_ELEMENTWISE_H
#define FASTBP_ELEMENTWISE_H

#include <stddef.h>

#include "_clones.h"

/* a[i, j] = OUT(a[i, j] + b[j]) over an m x n block of row stride ld:
 * bias + ReLU (`x <= 0 ? 0 : x`, so that a NaN stays NaN: see
 * _activations.pxd) and the identity layer's bias. */
#define FB_BIAS_ROWS(NAME, T, OUT)                                          \
FASTBP_CLONES static void NAME(T* a, const T* b, ptrdiff_t m, ptrdiff_t n,  \
                               ptrdiff_t ld) {                              \
    ptrdiff_t i, j;                                                         \
    for (i = 0; i < m; i++) {                                               \
        T* restrict row = a + i * ld;                                       \
        for (j = 0; j < n; j++) {                                           \
            T x = row[j] + b[j];                                            \
            row[j] = OUT;                                                   \
        }                                                                   \
    }                                                                       \
}
FB_BIAS_ROWS(fastbp_bias_relu_f, float, x <= 0 ? 0.0f : x)
FB_BIAS_ROWS(fastbp_bias_relu_d, double, x <= 0 ? 0.0 : x)
FB_BIAS_ROWS(fastbp_bias_add_f, float, x)
FB_BIAS_ROWS(fastbp_bias_add_d, double, x)

/* delta[i] = a[i] > 0 ? delta[i] : 0 over n values (ReLU's derivative,
 * through the layer's output a = relu(z)). */
#define FB_RELU_BACK(NAME, T)                                               \
FASTBP_CLONES static void NAME(T* restrict delta, const T* restrict a,      \
                               ptrdiff_t n) {                               \
    ptrdiff_t i;                                                            \
    for (i = 0; i < n; i++)                                                 \
        delta[i] = a[i] > 0 ? delta[i] : (T)0;                              \
}
FB_RELU_BACK(fastbp_relu_back_f, float)
FB_RELU_BACK(fastbp_relu_back_d, double)

/* gb[j] (zero: from 0, else from its value) plus the sum over i of
 * D[i, j] (row 0 first), for j in [j0, j1), D of m rows and row stride
 * ld. */
#define FB_COLSUM(NAME, T)                                                  \
FASTBP_CLONES static void NAME(T* restrict gb, const T* restrict D,         \
                               ptrdiff_t m, ptrdiff_t ld, ptrdiff_t j0,     \
                               ptrdiff_t j1, int zero) {                    \
    ptrdiff_t i, j;                                                         \
    if (zero)                                                               \
        for (j = j0; j < j1; j++)                                           \
            gb[j] = 0;                                                      \
    for (i = 0; i < m; i++) {                                               \
        const T* row = D + i * ld;                                          \
        for (j = j0; j < j1; j++)                                           \
            gb[j] = gb[j] + row[j];                                         \
    }                                                                       \
}
FB_COLSUM(fastbp_colsum_f, float)
FB_COLSUM(fastbp_colsum_d, double)

#endif
