/* Optimizer kernels over flat buffers, one loop per optimizer, written in C
 * for `restrict`: the compiler may then vectorize each loop (sqrt and
 * division included, with -fno-math-errno) without run-time alias checks.
 *
 * The callers run them with subnormals flushed to zero (_fpmode.h).
 *
 * FASTBP_OPTIM(T, SUF, SQRT) defines, for element type T:
 *   fastbp_reduce_SUF   g[j] += rest[c * ldg + j] for c = 0 .. n_rest - 1, in order
 *   fastbp_sgd_SUF      scikit-learn's momentum / Nesterov update
 *   fastbp_rmsprop_SUF  s = rho s + (1 - rho) g^2; p -= lr g / (sqrt(s) + eps)
 *   fastbp_adam_SUF     scikit-learn's Adam, plus adamw's decoupled decay
 *   fastbp_adam_sumsq_SUF  the same, returning the sum of squares of the
 *                       updated p as fastbp_sumsq_SUF sums it (same bits),
 *                       without reading p again (a pass over all the weights)
 *   fastbp_sumsq_SUF    sum of squares in double, 8 fixed partial sums
 * where the gradient used is (g[j] + l2 * p[j]) * scale.
 */
#ifndef FASTBP_OPTIM_KERNELS_H
#define FASTBP_OPTIM_KERNELS_H

#include <float.h>
#include <math.h>
#include <stddef.h>

/* Each kernel is also compiled for AVX2 (see _clones.h): the updates are a
 * fifth of a small network's mini-batch (digits at batch 32). */
#include "_clones.h"


/* Entries per block of fastbp_adam_sumsq (a multiple of 8). */
#define FASTBP_SUMSQ_BLOCK 256

/* The sum of squares of p in double, in one fixed order (the same bits
 * wherever it is taken): entries lo, lo+1, ... in groups of 8 into 8 partial
 * sums acc[0..7] (FASTBP_SUMSQ_GROUPS, which can go a stretch at a time:
 * j moves up to the last whole group before e), then the entries left one by
 * one, then the partial sums in order (FASTBP_SUMSQ_FINISH). */
#if defined(__GNUC__) && (defined(__clang__) || __GNUC__ >= 7)
/* The 8 partial sums as one vector of 8 doubles: lane l is acc[l], each
 * lane's multiply and add rounded as the scalar loop below rounds them
 * (the same bits), but in vector registers, which compilers do not choose
 * for that loop (Adam over digits' 7,510 floats: 2.0 us with the sum, 1.6
 * without; python benchmarks/optim_kernels.py). */
typedef double fastbp_v8d __attribute__((vector_size(64)));
#define FASTBP_SUMSQ_GROUPS(acc, p, j, e)                                       \
    {                                                                           \
        fastbp_v8d a_ = {acc[0], acc[1], acc[2], acc[3],                        \
                         acc[4], acc[5], acc[6], acc[7]};                       \
        for (; j + 8 <= (e); j += 8) {                                          \
            fastbp_v8d x_ = {p[j], p[j + 1], p[j + 2], p[j + 3],                \
                             p[j + 4], p[j + 5], p[j + 6], p[j + 7]};           \
            a_ += x_ * x_;                                                      \
        }                                                                       \
        for (int l = 0; l < 8; l++) acc[l] = a_[l];                             \
    }
#else
#define FASTBP_SUMSQ_GROUPS(acc, p, j, e)                                       \
    for (; j + 8 <= (e); j += 8)                                                \
        for (int l = 0; l < 8; l++) acc[l] += (double)p[j + l] * p[j + l];
#endif
#define FASTBP_SUMSQ_FINISH(acc, p, j, hi)                                      \
    double s = 0;                                                               \
    for (; j < (hi); j++) s += (double)p[j] * p[j];                             \
    for (int l = 0; l < 8; l++) s += acc[l];                                    \
    return s;

/* One Adam step of entry j (the body of fastbp_adam and fastbp_adam_sumsq) */
#define FASTBP_ADAM_STEP(T, SQRT, j)                                            \
    {                                                                           \
        T gj = (g[j] + l2 * p[j]) * scale;                                      \
        T mj = b1 * m[j] + (1 - b1) * gj;                                       \
        T vj = b2 * v[j] + (1 - b2) * gj * gj;                                  \
        m[j] = mj;                                                              \
        v[j] = vj;                                                              \
        T pj = p[j] - decay_lr * p[j];                                          \
        p[j] = pj - lr_t * mj / (SQRT(vj) + eps);                               \
    }

#define FASTBP_OPTIM(T, SUF, SQRT)                                              \
FASTBP_CLONES static void                                                       \
fastbp_reduce_##SUF(T *restrict g, const T *restrict rest,                      \
                                       int n_rest, ptrdiff_t ldg,               \
                                       ptrdiff_t lo, ptrdiff_t hi) {            \
    for (int c = 0; c < n_rest; c++) {                                          \
        const T *restrict gc = rest + c * ldg;                                  \
        for (ptrdiff_t j = lo; j < hi; j++) g[j] += gc[j];                      \
    }                                                                           \
}                                                                               \
FASTBP_CLONES static void                                                       \
fastbp_sgd_##SUF(T *restrict p, const T *restrict g,                            \
                                    T *restrict v, ptrdiff_t lo, ptrdiff_t hi,  \
                                    T l2, T scale, T lr, T mu, int nesterov) {  \
    if (nesterov) {                                                             \
        for (ptrdiff_t j = lo; j < hi; j++) {                                   \
            T gj = (g[j] + l2 * p[j]) * scale;                                  \
            T u = mu * v[j] - lr * gj;                                          \
            v[j] = u;                                                           \
            p[j] = p[j] + (mu * u - lr * gj);                                   \
        }                                                                       \
    } else {                                                                    \
        for (ptrdiff_t j = lo; j < hi; j++) {                                   \
            T gj = (g[j] + l2 * p[j]) * scale;                                  \
            T u = mu * v[j] - lr * gj;                                          \
            v[j] = u;                                                           \
            p[j] = p[j] + u;                                                    \
        }                                                                       \
    }                                                                           \
}                                                                               \
FASTBP_CLONES static void                                                       \
fastbp_rmsprop_##SUF(T *restrict p, const T *restrict g,                        \
                                        T *restrict s, ptrdiff_t lo,            \
                                        ptrdiff_t hi, T l2, T scale, T lr,      \
                                        T rho, T eps) {                         \
    for (ptrdiff_t j = lo; j < hi; j++) {                                       \
        T gj = (g[j] + l2 * p[j]) * scale;                                      \
        T sj = rho * s[j] + (1 - rho) * gj * gj;                                \
        s[j] = sj;                                                              \
        p[j] = p[j] - lr * gj / (SQRT(sj) + eps);                               \
    }                                                                           \
}                                                                               \
FASTBP_CLONES static void                                                       \
fastbp_adam_##SUF(T *restrict p, const T *restrict g,                           \
                                     T *restrict m, T *restrict v,              \
                                     ptrdiff_t lo, ptrdiff_t hi, T l2, T scale, \
                                     T b1, T b2, T lr_t, T eps, T decay_lr) {   \
    for (ptrdiff_t j = lo; j < hi; j++)                                         \
        FASTBP_ADAM_STEP(T, SQRT, j)                                            \
}                                                                               \
FASTBP_CLONES static double                                                     \
fastbp_adam_sumsq_##SUF(T *restrict p, const T *restrict g,                     \
                        T *restrict m, T *restrict v,                           \
                        ptrdiff_t lo, ptrdiff_t hi, T l2, T scale,              \
                        T b1, T b2, T lr_t, T eps, T decay_lr) {                \
    /* Blocks of FASTBP_SUMSQ_BLOCK entries: the Adam loop over a block,     \
     * then the sum over it while it is in L1 (two plain loops vectorize     \
     * better than one doing both: 5-9% faster on 235k floats); the sum's    \
     * order is fastbp_sumsq's (the same two macros). */                     \
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                   \
    ptrdiff_t j = lo, b, e;                                                     \
    for (b = lo; b < hi; b = e) {                                               \
        e = hi - b > FASTBP_SUMSQ_BLOCK ? b + FASTBP_SUMSQ_BLOCK : hi;          \
        for (ptrdiff_t i = b; i < e; i++)                                       \
            FASTBP_ADAM_STEP(T, SQRT, i)                                        \
        FASTBP_SUMSQ_GROUPS(acc, p, j, e)                                       \
    }                                                                           \
    FASTBP_SUMSQ_FINISH(acc, p, j, hi)                                          \
}                                                                               \
FASTBP_CLONES static double                                                     \
fastbp_sumsq_##SUF(const T *restrict p, ptrdiff_t lo,                           \
                                        ptrdiff_t hi) {                         \
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                   \
    ptrdiff_t j = lo;                                                           \
    FASTBP_SUMSQ_GROUPS(acc, p, j, hi)                                          \
    FASTBP_SUMSQ_FINISH(acc, p, j, hi)                                          \
}

FASTBP_OPTIM(float, f, sqrtf)
FASTBP_OPTIM(double, d, sqrt)

#endif
