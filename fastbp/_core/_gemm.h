/* fastbp's own matrix products, single and double precision, for CPUs with
 * AVX-512F.
 *
 * Why: OpenBLAS picks its kernels by processor at load time, and where it
 * does not know the processor, or OPENBLAS_CORETYPE names an older one, it
 * runs 256-bit AVX2 kernels on a CPU whose FMA units take 512 bits. On the
 * 2-core AMD EPYC (Zen 5) this project is benchmarked on, with
 * OPENBLAS_CORETYPE=Haswell, one thread's float32 products of a
 * 784-1024-1024 step run at 123-124 GFLOP/s through OpenBLAS and 228-245
 * here; OpenBLAS's own AVX-512 kernels, when allowed to run, 209-236
 * (benchmarks/gemm_kernel.py, which also times float64). fastbp
 * parallelizes by calling one-thread products on parts of each layer
 * (fastbp/_core/_backprop.pyx), so a one-thread kernel is all it needs.
 *
 * How: the layout of BLIS and of OpenBLAS's level 3. Blocks of op(B) (KC x
 * NC) and of op(A) (MC x KC) are copied into panels that the micro-kernel
 * reads in order (transposed in registers, 8 x 8 floats or 4 x 4 doubles
 * at a time, where a panel runs across the operand's rows: copying one
 * value at a time took a fifth of the products' time in a 784-1024-1024
 * fit); the micro-kernel keeps an 8-row tile of C (32 floats or 16 doubles
 * wide) in 16 vector registers and adds one rank-1 product per k. Each
 * element of C is summed over k in the same order whatever the shape of
 * the call: its result does not depend on how a product is cut into row or
 * column parts, nor on the row count m.
 *
 * fastbp_sgemm and fastbp_dgemm return 0, and the caller calls BLAS, where
 * the CPU has no AVX-512F, the compiler cannot target it, FASTBP_GEMM=blas
 * is set (read once, at the first product), k is under FB_MIN_K or the
 * product is narrower than one tile with op(B) = B^T (where BLAS is
 * faster), or the packing buffers cannot be allocated. */
#ifndef FASTBP_GEMM_H
#define FASTBP_GEMM_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(_WIN32) \
    && (defined(__clang__) ? __clang_major__ >= 8 : __GNUC__ >= 7) \
    && !defined(FASTBP_NO_OWN_GEMM)
#define FASTBP_OWN_GEMM 1
#include <immintrin.h>
#include <pthread.h>
#else
#define FASTBP_OWN_GEMM 0
#endif

#define FB_MR 8       /* rows of the C tile */
#define FB_KC 256     /* k per block: a B panel (KC x NR) is 32 KiB, in L1 */
#define FB_MC 256     /* rows of A per block: 256 or 512 KiB, in L2 */
#define FB_NR_S 32    /* columns of the C tile: two vectors of 16 floats */
#define FB_NC_S 2048  /* columns of B per block: 2 MiB */
#define FB_NR_D 16    /* two vectors of 8 doubles */
#define FB_NC_D 1024  /* 2 MiB */
#define FB_MIN_K 8
#define FB_BUF_BYTES (8 * ((size_t)FB_MC * FB_KC + (size_t)FB_KC * FB_NC_D))

#if FASTBP_OWN_GEMM

#define FB_AVX512 __attribute__((target("avx512f")))

/* Packing buffers, one per thread, freed when the thread ends. */
static pthread_key_t fb_key;
static pthread_once_t fb_key_once = PTHREAD_ONCE_INIT;
static int fb_key_ok = 0;

static void fb_make_key(void) {
    fb_key_ok = pthread_key_create(&fb_key, free) == 0;
}

static void* fb_buffers(void) {
    void* buf;
    pthread_once(&fb_key_once, fb_make_key);
    if (!fb_key_ok)
        return NULL;
    buf = pthread_getspecific(fb_key);
    if (buf == NULL) {
        buf = aligned_alloc(64, FB_BUF_BYTES);
        if (buf != NULL && pthread_setspecific(fb_key, buf) != 0) {
            free(buf);
            buf = NULL;
        }
        /* every page mapped now, not in the products that first reach
         * it: the thread tuner times mini-batches, and a team's first
         * batches paying page faults would lose to one thread */
        if (buf != NULL)
            memset(buf, 0, FB_BUF_BYTES);
    }
    return buf;
}

/* 1: the kernels run (AVX-512F and FASTBP_GEMM is not "blas"). */
static int fastbp_gemm_enabled(void) {
    static int mode = -1;     /* per module; every module finds the same */
    if (mode < 0) {
        const char* e = getenv("FASTBP_GEMM");
        int blas = e != NULL && (e[0] == 'b' || e[0] == 'B');
        __builtin_cpu_init();
        mode = !blas && __builtin_cpu_supports("avx512f");
    }
    return mode;
}

/* Give the calling thread its packing buffers now (where the kernels run):
 * the team's threads call it when they start (_backprop.pyx, warm_team). */
static void fastbp_gemm_warm(void) {
    if (fastbp_gemm_enabled())
        (void)fb_buffers();
}

/* Columns of an 8 x 8 block of floats, in place: r[j] becomes (r[0][j],
 * ..., r[7][j]). */
FB_AVX512 static inline void fb_transpose8_s(__m256* r) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* dst[q * ld + r] = src[r * lds + q] for the 8 rows r of src and q in
 * 0..kc: a transpose, 8 x 8 at a time. */
FB_AVX512 static void fb_transpose_rows8_s(const float* src, ptrdiff_t lds,
                                           int kc, float* dst, ptrdiff_t ld) {
    __m256 r[8];
    int k, i;
    for (k = 0; k + 8 <= kc; k += 8) {
        for (i = 0; i < 8; i++)
            r[i] = _mm256_loadu_ps(src + i * lds + k);
        fb_transpose8_s(r);
        for (i = 0; i < 8; i++)
            _mm256_storeu_ps(dst + (k + i) * ld, r[i]);
    }
    for (; k < kc; k++)
        for (i = 0; i < 8; i++)
            dst[k * ld + i] = src[i * lds + k];
}

/* The same for doubles, 4 x 4 at a time. */
FB_AVX512 static void fb_transpose_rows8_d(const double* src, ptrdiff_t lds,
                                           int kc, double* dst, ptrdiff_t ld) {
    int k, h, i;
    for (k = 0; k + 4 <= kc; k += 4)
        for (h = 0; h < 8; h += 4) {
            const double* s = src + h * lds + k;
            __m256d r0 = _mm256_loadu_pd(s), r1 = _mm256_loadu_pd(s + lds);
            __m256d r2 = _mm256_loadu_pd(s + 2 * lds), r3 = _mm256_loadu_pd(s + 3 * lds);
            __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
            __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
            _mm256_storeu_pd(dst + k * ld + h, _mm256_permute2f128_pd(t0, t2, 0x20));
            _mm256_storeu_pd(dst + (k + 1) * ld + h, _mm256_permute2f128_pd(t1, t3, 0x20));
            _mm256_storeu_pd(dst + (k + 2) * ld + h, _mm256_permute2f128_pd(t0, t2, 0x31));
            _mm256_storeu_pd(dst + (k + 3) * ld + h, _mm256_permute2f128_pd(t1, t3, 0x31));
        }
    for (; k < kc; k++)
        for (i = 0; i < 8; i++)
            dst[k * ld + i] = src[i * lds + k];
}

/* One packer for both operands, in panels of W: P[p][k][w] = the element
 * at row r0 + p*W + w, column k0 + k of the matrix M stands for, zero past
 * `count` rows. M stands for op(A) (fb_pack_a, W = MR) or op(B)^T
 * (fb_pack_b, W = NR); `across`: that matrix is M itself (row stride ld),
 * so a panel runs across M's rows and is transposed in registers, 8 rows
 * at a time; else it is M^T, and a panel's W values at each k are
 * contiguous in M. */
#define FB_PACKER(T, SUF, NAME, W)                                           \
FB_AVX512 static void fb_pack_##NAME##_##SUF(int across, const T* M,        \
                                           ptrdiff_t ld, ptrdiff_t r0,       \
                                           ptrdiff_t k0, int count, int kc,  \
                                           T* P) {                           \
    int p, np = (count + W - 1) / W;                                         \
    for (p = 0; p < np; p++) {                                               \
        T* dst = P + (size_t)p * kc * W;                                     \
        const T* m = across ? M + (r0 + p * W) * ld + k0                     \
                            : M + k0 * ld + r0 + p * W;                      \
        int w = count - p * W < W ? count - p * W : W;                      \
        if (w == W && across)                                                \
            for (int c = 0; c < W; c += 8)                                   \
                fb_transpose_rows8_##SUF(m + c * ld, ld, kc, dst + c, W);    \
        else if (w == W)                                                     \
            for (int k = 0; k < kc; k++)                                     \
                memcpy(dst + k * W, m + k * ld, W * sizeof(T));              \
        else    /* a last panel, short of W: zeros past its edge */          \
            for (int k = 0; k < kc; k++)                                     \
                for (int c = 0; c < W; c++)                                  \
                    dst[k * W + c] = c >= w ? 0                              \
                        : across ? m[c * ld + k] : m[k * ld + c];            \
    }                                                                        \
}
FB_PACKER(float, s, a, FB_MR)
FB_PACKER(float, s, b, FB_NR_S)
FB_PACKER(double, d, a, FB_MR)
FB_PACKER(double, d, b, FB_NR_D)

/* The 16 accumulators of an 8-row tile, two vectors a row, zeroed. */
#define FB_ZERO_TILE(V, X)                                                   \
    V c0a = _mm512_setzero_##X(), c0b = _mm512_setzero_##X();               \
    V c1a = _mm512_setzero_##X(), c1b = _mm512_setzero_##X();               \
    V c2a = _mm512_setzero_##X(), c2b = _mm512_setzero_##X();               \
    V c3a = _mm512_setzero_##X(), c3b = _mm512_setzero_##X();               \
    V c4a = _mm512_setzero_##X(), c4b = _mm512_setzero_##X();               \
    V c5a = _mm512_setzero_##X(), c5b = _mm512_setzero_##X();               \
    V c6a = _mm512_setzero_##X(), c6b = _mm512_setzero_##X();               \
    V c7a = _mm512_setzero_##X(), c7b = _mm512_setzero_##X();

/* The MR x NR tile at C (row stride ldc) = (add ? C : 0) + the product of
 * an A panel (kc x MR) and a B panel (kc x NR): one FMA chain per element,
 * k in order. V is the vector type, W its lanes, X the intrinsics' suffix. */
#define FB_KERNEL(T, SUF, V, W, X)                                           \
FB_AVX512 static void fb_kernel_##SUF(int kc, const T* Ap, const T* Bp,     \
                                      T* C, ptrdiff_t ldc, int add) {        \
    FB_ZERO_TILE(V, X)                                                       \
    V ba, bb, a;                                                             \
    for (int k = 0; k < kc; k++) {                                           \
        ba = _mm512_load_##X(Bp);                                            \
        bb = _mm512_load_##X(Bp + W);                                        \
        FB_ROW(X, 0) FB_ROW(X, 1) FB_ROW(X, 2) FB_ROW(X, 3)                  \
        FB_ROW(X, 4) FB_ROW(X, 5) FB_ROW(X, 6) FB_ROW(X, 7)                  \
        Ap += FB_MR;                                                         \
        Bp += 2 * W;                                                         \
    }                                                                        \
    FB_OUT(T, X, W, 0) FB_OUT(T, X, W, 1) FB_OUT(T, X, W, 2)                 \
    FB_OUT(T, X, W, 3) FB_OUT(T, X, W, 4) FB_OUT(T, X, W, 5)                 \
    FB_OUT(T, X, W, 6) FB_OUT(T, X, W, 7)                                    \
}
#define FB_ROW(X, i) a = _mm512_set1_##X(Ap[i]);                             \
    c##i##a = _mm512_fmadd_##X(a, ba, c##i##a);                              \
    c##i##b = _mm512_fmadd_##X(a, bb, c##i##b);
#define FB_OUT(T, X, W, i) { T* r = C + i * ldc;                            \
    if (add) { c##i##a = _mm512_add_##X(_mm512_loadu_##X(r), c##i##a);       \
               c##i##b = _mm512_add_##X(_mm512_loadu_##X(r + W), c##i##b); } \
    _mm512_storeu_##X(r, c##i##a); _mm512_storeu_##X(r + W, c##i##b); }
FB_KERNEL(float, s, __m512, 16, ps)
FB_KERNEL(double, d, __m512d, 8, pd)

/* Products narrower than one tile (n under NR), and the columns past the
 * last whole tile of a wider one, where op(B) = B, whose rows are then
 * contiguous: no packing, an 8-row block of C (one or two vectors a row,
 * masked past n) summed from A's values and B's rows where they lie
 * (digits' 10-wide output layer and the last 4 of its 100 hidden units:
 * packed, a padded 32-wide tile cost more than OpenBLAS's call). Each
 * element is the sum the tiled path above gives it (one FMA chain per KC
 * block of k, from zero, k in order, added to C block after block), so
 * the choice of path changes no bit. A tile of 8 rows: */
#define FB_SROW(V, X, i) if (rows > i) {                                     \
        V a_ = _mm512_set1_##X(ap[i * sa]);                                  \
        c##i##a = _mm512_fmadd_##X(a_, ba, c##i##a);                         \
        if (two) c##i##b = _mm512_fmadd_##X(a_, bb, c##i##b); }
#define FB_SOUT(T, X, W, i) if (rows > i) { T* o_ = c + i * ldc;             \
        if (add)                                                             \
            c##i##a = _mm512_add_##X(_mm512_maskz_loadu_##X(m0, o_), c##i##a); \
        _mm512_mask_storeu_##X(o_, m0, c##i##a);                             \
        if (two) {                                                           \
            if (add)                                                         \
                c##i##b = _mm512_add_##X(_mm512_maskz_loadu_##X(m1, o_ + W), \
                                         c##i##b);                           \
            _mm512_mask_storeu_##X(o_ + W, m1, c##i##b); } }
#define FB_SMALL(T, SUF, V, W, X, M)                                         \
FB_AVX512 static inline __attribute__((always_inline)) void                 \
fb_small_tile_##SUF(int rows, int two, int kc, const T* a, ptrdiff_t sa,    \
                    ptrdiff_t sk, const T* b, ptrdiff_t ldb, M m0, M m1,     \
                    T* c, ptrdiff_t ldc, int add) {                          \
    FB_ZERO_TILE(V, X)                                                       \
    V ba, bb = _mm512_setzero_##X();                                         \
    for (int p = 0; p < kc; p++) {                                           \
        const T* ap = a + p * sk;                                            \
        ba = _mm512_maskz_loadu_##X(m0, b + p * ldb);                        \
        if (two)                                                             \
            bb = _mm512_maskz_loadu_##X(m1, b + p * ldb + W);                \
        FB_SROW(V, X, 0) FB_SROW(V, X, 1) FB_SROW(V, X, 2) FB_SROW(V, X, 3)  \
        FB_SROW(V, X, 4) FB_SROW(V, X, 5) FB_SROW(V, X, 6) FB_SROW(V, X, 7)  \
    }                                                                        \
    FB_SOUT(T, X, W, 0) FB_SOUT(T, X, W, 1) FB_SOUT(T, X, W, 2)              \
    FB_SOUT(T, X, W, 3) FB_SOUT(T, X, W, 4) FB_SOUT(T, X, W, 5)              \
    FB_SOUT(T, X, W, 6) FB_SOUT(T, X, W, 7)                                  \
}                                                                            \
FB_AVX512 static void fb_small_##SUF(int ta, int m, int n, int k,           \
                                     const T* A, ptrdiff_t lda, const T* B, \
                                     ptrdiff_t ldb, int beta_one, T* C,      \
                                     ptrdiff_t ldc) {                        \
    M m0 = n >= W ? (M)~0u : (M)((1u << n) - 1);                             \
    M m1 = n > W ? (M)((1u << (n - W)) - 1) : (M)0;                          \
    ptrdiff_t sa = ta ? 1 : lda, sk = ta ? lda : 1;                          \
    for (int pc = 0; pc < k; pc += FB_KC) {                                  \
        int kc = k - pc < FB_KC ? k - pc : FB_KC, i = 0;                     \
        int add = pc > 0 || beta_one;                                        \
        const T* a = A + pc * sk;                                            \
        const T* b = B + pc * ldb;                                           \
        /* (constant rows and widths: each call is its own unrolled code) */\
        for (; i + FB_MR <= m; i += FB_MR)                                   \
            if (n > W)                                                       \
                fb_small_tile_##SUF(FB_MR, 1, kc, a + i * sa, sa, sk, b, ldb,\
                                    m0, m1, C + i * ldc, ldc, add);          \
            else                                                             \
                fb_small_tile_##SUF(FB_MR, 0, kc, a + i * sa, sa, sk, b, ldb,\
                                    m0, m1, C + i * ldc, ldc, add);          \
        for (; i < m; i++)                                                   \
            if (n > W)                                                       \
                fb_small_tile_##SUF(1, 1, kc, a + i * sa, sa, sk, b, ldb,    \
                                    m0, m1, C + i * ldc, ldc, add);          \
            else                                                             \
                fb_small_tile_##SUF(1, 0, kc, a + i * sa, sa, sk, b, ldb,    \
                                    m0, m1, C + i * ldc, ldc, add);          \
    }                                                                        \
}
FB_SMALL(float, s, __m512, 16, ps, __mmask16)
FB_SMALL(double, d, __m512d, 8, pd, __mmask8)

/* Row-major C (m x n) = op(A) (m x k) op(B) (k x n) + beta C for beta 0
 * (C not read) or 1; lda, ldb, ldc are the row strides as stored. Returns
 * 0 without touching C where BLAS is to compute it (see the top). */
#define FB_GEMM(T, SUF, NR, NC)                                              \
static int fastbp_##SUF##gemm(int ta, int tb, int m, int n, int k,          \
                              const T* A, int lda, const T* B, int ldb,      \
                              T beta, T* C, int ldc) {                       \
    T tile[FB_MR * NR] __attribute__((aligned(64)));                         \
    T* Ap;                                                                   \
    T* Bp;                                                                   \
    int jc, pc, ic, jr, ir, i, j;                                            \
    if (k < FB_MIN_K || m <= 0 || !(beta == 0 || beta == 1)                  \
            || !fastbp_gemm_enabled() || (n < NR && tb))                      \
        return 0;                                                            \
    /* (the buffers first: once C is partly written, BLAS cannot take over) */\
    Ap = n >= NR ? (T*)fb_buffers() : NULL;                                  \
    if (n >= NR && Ap == NULL)                                               \
        return 0;                                                            \
    if (!tb && n % NR != 0) {                                                \
        /* the columns past the last whole tile, unpacked (the same sums) */ \
        fb_small_##SUF(ta, m, n % NR, k, A, lda, B + (n - n % NR), ldb,       \
                       beta != 0, C + (n - n % NR), ldc);                    \
        n -= n % NR;                                                         \
        if (n == 0)                                                          \
            return 1;                                                        \
    }                                                                        \
    Bp = Ap + (size_t)FB_MC * FB_KC;                                         \
    for (jc = 0; jc < n; jc += NC) {                                         \
        int nc = n - jc < NC ? n - jc : NC;                                  \
        for (pc = 0; pc < k; pc += FB_KC) {                                  \
            int kc = k - pc < FB_KC ? k - pc : FB_KC;                        \
            int add = pc > 0 || beta != 0;                                   \
            fb_pack_b_##SUF(tb, B, ldb, jc, pc, nc, kc, Bp);                 \
            for (ic = 0; ic < m; ic += FB_MC) {                              \
                int mc = m - ic < FB_MC ? m - ic : FB_MC;                    \
                fb_pack_a_##SUF(!ta, A, lda, ic, pc, mc, kc, Ap);            \
                for (jr = 0; jr < nc; jr += NR) {                            \
                    int nr = nc - jr < NR ? nc - jr : NR;                    \
                    const T* bp = Bp + (size_t)(jr / NR) * kc * NR;          \
                    for (ir = 0; ir < mc; ir += FB_MR) {                     \
                        int mr = mc - ir < FB_MR ? mc - ir : FB_MR;          \
                        const T* ap = Ap + (size_t)(ir / FB_MR) * kc * FB_MR;\
                        T* c = C + (ptrdiff_t)(ic + ir) * ldc + jc + jr;     \
                        if (mr == FB_MR && nr == NR) {                       \
                            fb_kernel_##SUF(kc, ap, bp, c, ldc, add);        \
                            continue;                                        \
                        }                                                    \
                        /* an edge tile: the same sums, into a full tile */  \
                        fb_kernel_##SUF(kc, ap, bp, tile, NR, 0);            \
                        for (i = 0; i < mr; i++)                             \
                            for (j = 0; j < nr; j++)                         \
                                c[(ptrdiff_t)i * ldc + j] = add              \
                                    ? c[(ptrdiff_t)i * ldc + j] + tile[i * NR + j] \
                                    : tile[i * NR + j];                      \
                    }                                                        \
                }                                                            \
            }                                                                \
        }                                                                    \
    }                                                                        \
    return 1;                                                                \
}
FB_GEMM(float, s, FB_NR_S, FB_NC_S)
FB_GEMM(double, d, FB_NR_D, FB_NC_D)

#else  /* no AVX-512 kernels in this build: BLAS computes every product */

static int fastbp_gemm_enabled(void) { return 0; }

static void fastbp_gemm_warm(void) {}

#define FB_NO_GEMM(T, SUF)                                                   \
static int fastbp_##SUF##gemm(int ta, int tb, int m, int n, int k,          \
                              const T* A, int lda, const T* B, int ldb,      \
                              T beta, T* C, int ldc) {                       \
    (void)ta; (void)tb; (void)m; (void)n; (void)k; (void)A; (void)lda;       \
    (void)B; (void)ldb; (void)beta; (void)C; (void)ldc;                      \
    return 0;                                                                \
}
FB_NO_GEMM(float, s)
FB_NO_GEMM(double, d)

#endif
#endif
