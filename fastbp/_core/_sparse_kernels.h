/* The first layer on CSR input, written in C for `restrict` (the compiler
 * then vectorizes the inner loops without run-time alias checks).
 *
 * FASTBP_SPARSE(T, SUF) defines, for element type T:
 *   fastbp_spmm_SUF     A[i, :] = X[r_i, :] @ W for block rows i0..i1-1
 *   fastbp_scatter_SUF  G[:, j0:j1] += X_block^T @ D[:, j0:j1]
 * where block row i is sample r_i = idx[start + i] (start + i when idx is
 * NULL) of the CSR matrix (data, ind, ptr), W and G have n columns and A
 * and D have row stride n.
 */
#ifndef FASTBP_SPARSE_KERNELS_H
#define FASTBP_SPARSE_KERNELS_H

#include <stddef.h>
#include <string.h>

/* gcc's -O3 unroll-and-jam fuses two nonzeros' row updates into one
 * scalar loop, which runs 2-3x slower than the vectorized row update (and
 * an inlined copy would be compiled with the caller's options). */
#if defined(__GNUC__) && !defined(__clang__)
#define FASTBP_NO_JAM __attribute__((noinline, optimize("no-loop-unroll-and-jam")))
#else
#define FASTBP_NO_JAM
#endif

/* The rows of W (or of its gradient) that the nonzeros pick are scattered
 * over a matrix larger than the caches: fetching the row FASTBP_PREFETCH
 * nonzeros ahead hides most of the memory latency (measured 1.6-2x on
 * 4000 rows x 100 nonzeros into a 100000 x 100 float32 W). */
#define FASTBP_PREFETCH 8
#if defined(__GNUC__) || defined(__clang__)
static inline void fastbp_prefetch_row(const void *p, size_t bytes, int write) {
    const char *q = (const char *)p;
    for (size_t o = 0; o < bytes; o += 64) {
        if (write) __builtin_prefetch(q + o, 1);
        else __builtin_prefetch(q + o, 0);
    }
}
#else
static inline void fastbp_prefetch_row(const void *p, size_t bytes, int write) {
    (void)p; (void)bytes; (void)write;
}
#endif

#define FASTBP_SPARSE(T, SUF)                                                   \
FASTBP_NO_JAM static void fastbp_spmm_##SUF(T *restrict A, const T *restrict W,        \
                                     ptrdiff_t n, const T *restrict data,       \
                                     const ptrdiff_t *restrict ind,             \
                                     const ptrdiff_t *restrict ptr,             \
                                     const ptrdiff_t *restrict idx,             \
                                     ptrdiff_t start, ptrdiff_t i0,             \
                                     ptrdiff_t i1) {                            \
    for (ptrdiff_t i = i0; i < i1; i++) {                                       \
        ptrdiff_t r = idx ? idx[start + i] : start + i;                         \
        T *restrict a = A + i * n;                                              \
        memset(a, 0, (size_t)n * sizeof(T));                                    \
        const ptrdiff_t end = ptr[r + 1];                                       \
        for (ptrdiff_t p = ptr[r]; p < end; p++) {                              \
            if (p + FASTBP_PREFETCH < end)                                      \
                fastbp_prefetch_row(W + ind[p + FASTBP_PREFETCH] * n,           \
                                    n * sizeof(T), 0);                          \
            const T v = data[p];                                                \
            const T *restrict w = W + ind[p] * n;                               \
            for (ptrdiff_t j = 0; j < n; j++) a[j] += v * w[j];                 \
        }                                                                       \
    }                                                                           \
}                                                                               \
FASTBP_NO_JAM static void fastbp_scatter_##SUF(T *restrict G, const T *restrict D,     \
                                        ptrdiff_t n, const T *restrict data,    \
                                        const ptrdiff_t *restrict ind,          \
                                        const ptrdiff_t *restrict ptr,          \
                                        const ptrdiff_t *restrict idx,          \
                                        ptrdiff_t start, ptrdiff_t m,           \
                                        ptrdiff_t j0, ptrdiff_t j1) {           \
    for (ptrdiff_t i = 0; i < m; i++) {                                         \
        ptrdiff_t r = idx ? idx[start + i] : start + i;                         \
        const T *restrict d = D + i * n;                                        \
        const ptrdiff_t end = ptr[r + 1];                                       \
        for (ptrdiff_t p = ptr[r]; p < end; p++) {                              \
            if (p + FASTBP_PREFETCH < end)                                      \
                fastbp_prefetch_row(G + ind[p + FASTBP_PREFETCH] * n + j0,      \
                                    (j1 - j0) * sizeof(T), 1);                  \
            const T v = data[p];                                                \
            T *restrict g = G + ind[p] * n;                                     \
            for (ptrdiff_t j = j0; j < j1; j++) g[j] += v * d[j];               \
        }                                                                       \
    }                                                                           \
}

FASTBP_SPARSE(float, f)
FASTBP_SPARSE(double, d)

#endif
