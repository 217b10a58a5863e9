/* fastbp's own single-precision matrix product, for CPUs with AVX-512F.
 *
 * Why: OpenBLAS picks its kernels by processor at load time, and where it
 * does not know the processor, or OPENBLAS_CORETYPE names an older one, it
 * runs 8-float AVX2 kernels on a CPU whose FMA units take 16 floats. On the
 * 2-core AMD EPYC (Zen 5) this project is benchmarked on, with
 * OPENBLAS_CORETYPE=Haswell, one thread's products of a 784-1024-1024
 * step run at 123-124 GFLOP/s through OpenBLAS and 228-245 here; OpenBLAS's
 * own AVX-512 kernels, when allowed to run, 209-236
 * (benchmarks/gemm_kernel.py). fastbp parallelizes by calling one-thread
 * products on parts of each layer (fastbp/_core/_backprop.pyx), so a
 * one-thread kernel is all it needs.
 *
 * How: the layout of BLIS and of OpenBLAS's level 3. Blocks of op(B) (KC x
 * NC) and of op(A) (MC x KC) are copied into panels that the micro-kernel
 * reads in order (transposed 8 x 8 at a time in registers where a panel
 * runs across the operand's rows: copying one float at a time took a
 * fifth of the products' time in a 784-1024-1024 fit); the micro-kernel keeps an 8 x 32 tile of C in 16 vector
 * registers and adds one rank-1 product per k. Each element of C is summed
 * over k in the same order whatever the shape of the call: its result does
 * not depend on how a product is cut into row or column parts, nor on the
 * row count m.
 *
 * fastbp_sgemm returns 0, and the caller calls BLAS, where the CPU has no
 * AVX-512F, the compiler cannot target it, FASTBP_GEMM=blas is set (read
 * once, at the first product), the product is too narrow for 32-float
 * tiles (n or k under the limits below, where BLAS is faster), or the
 * packing buffers cannot be allocated. */
#ifndef FASTBP_SGEMM_H
#define FASTBP_SGEMM_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(_WIN32) \
    && (defined(__clang__) ? __clang_major__ >= 8 : __GNUC__ >= 7) \
    && !defined(FASTBP_NO_OWN_GEMM)
#define FASTBP_OWN_SGEMM 1
#include <immintrin.h>
#include <pthread.h>
#else
#define FASTBP_OWN_SGEMM 0
#endif

#define FB_MR 8       /* rows of the C tile */
#define FB_NR 32      /* columns of the C tile: two 16-float vectors */
#define FB_KC 256     /* k per block: a B panel (KC x NR) is 32 KiB, in L1 */
#define FB_MC 256     /* rows of A per block: 256 KiB, in L2 */
#define FB_NC 2048    /* columns of B per block: 2 MiB */
#define FB_MIN_N 32
#define FB_MIN_K 8

#if FASTBP_OWN_SGEMM

#define FB_AVX512 __attribute__((target("avx512f")))

/* Packing buffers, one pair per thread, freed when the thread ends. */
static pthread_key_t fb_key;
static pthread_once_t fb_key_once = PTHREAD_ONCE_INIT;
static int fb_key_ok = 0;

static void fb_make_key(void) {
    fb_key_ok = pthread_key_create(&fb_key, free) == 0;
}

static float* fb_buffers(void) {
    const size_t size = sizeof(float) *
        ((size_t)FB_MC * FB_KC + (size_t)FB_KC * FB_NC);
    float* buf;
    pthread_once(&fb_key_once, fb_make_key);
    if (!fb_key_ok)
        return NULL;
    buf = (float*)pthread_getspecific(fb_key);
    if (buf == NULL) {
        buf = (float*)aligned_alloc(64, size);
        if (buf != NULL && pthread_setspecific(fb_key, buf) != 0) {
            free(buf);
            buf = NULL;
        }
        /* every page mapped now, not in the products that first reach
         * it: the thread tuner times mini-batches, and a team's first
         * batches paying page faults would lose to one thread */
        if (buf != NULL)
            memset(buf, 0, size);
    }
    return buf;
}


/* 1: the kernel runs (AVX-512F and FASTBP_GEMM is not "blas"). */
static int fastbp_sgemm_enabled(void) {
    static int mode = -1;     /* per module; every module finds the same */
    if (mode < 0) {
        const char* e = getenv("FASTBP_GEMM");
        int blas = e != NULL && (e[0] == 'b' || e[0] == 'B');
        __builtin_cpu_init();
        mode = !blas && __builtin_cpu_supports("avx512f");
    }
    return mode;
}

/* Give the calling thread its packing buffers now (where the kernel runs):
 * the team's threads call it when they start (_backprop.pyx, warm_team). */
static void fastbp_sgemm_warm(void) {
    if (fastbp_sgemm_enabled())
        (void)fb_buffers();
}

/* Columns of an 8 x 8 block, in place: r[j] becomes (r[0][j], ..., r[7][j]). */
FB_AVX512 static inline void fb_transpose8(__m256* r) {
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

/* dst[q * ld] = column q of the 8 x kc block at src (row stride lds), for
 * q in 0..kc: a transpose, 8 x 8 at a time. */
FB_AVX512 static void fb_transpose_rows8(const float* src, ptrdiff_t lds,
                                         int kc, float* dst, ptrdiff_t ld) {
    __m256 r[8];
    int k, i;
    for (k = 0; k + 8 <= kc; k += 8) {
        for (i = 0; i < 8; i++)
            r[i] = _mm256_loadu_ps(src + i * lds + k);
        fb_transpose8(r);
        for (i = 0; i < 8; i++)
            _mm256_storeu_ps(dst + (k + i) * ld, r[i]);
    }
    for (; k < kc; k++)
        for (i = 0; i < 8; i++)
            dst[k * ld + i] = src[i * lds + k];
}

/* Ap[p][k][r] = opA(i0 + p*MR + r, k0 + k), zero past mc rows. */
FB_AVX512 static void fb_pack_a(int trans, const float* A, ptrdiff_t lda,
                                ptrdiff_t i0, ptrdiff_t k0, int mc, int kc,
                                float* Ap) {
    int p, r, k, np = (mc + FB_MR - 1) / FB_MR;
    for (p = 0; p < np; p++) {
        float* dst = Ap + (size_t)p * kc * FB_MR;
        int rows = mc - p * FB_MR < FB_MR ? mc - p * FB_MR : FB_MR;
        if (!trans && rows == FB_MR) {
            fb_transpose_rows8(A + (i0 + p * FB_MR) * lda + k0, lda, kc, dst,
                               FB_MR);
            continue;
        }
        if (trans && rows == FB_MR) {
            for (k = 0; k < kc; k++)
                _mm256_store_ps(dst + k * FB_MR, _mm256_loadu_ps(
                    A + (k0 + k) * lda + i0 + p * FB_MR));
            continue;
        }
        for (k = 0; k < kc; k++)
            for (r = 0; r < FB_MR; r++)
                dst[k * FB_MR + r] = r >= rows ? 0.0f : trans
                    ? A[(k0 + k) * lda + i0 + p * FB_MR + r]
                    : A[(i0 + p * FB_MR + r) * lda + k0 + k];
    }
}

/* Bp[p][k][c] = opB(k0 + k, j0 + p*NR + c), zero past nc columns. */
FB_AVX512 static void fb_pack_b(int trans, const float* B, ptrdiff_t ldb,
                                ptrdiff_t k0, ptrdiff_t j0, int kc, int nc,
                                float* Bp) {
    int p, c, k, np = (nc + FB_NR - 1) / FB_NR;
    for (p = 0; p < np; p++) {
        float* dst = Bp + (size_t)p * kc * FB_NR;
        int cols = nc - p * FB_NR < FB_NR ? nc - p * FB_NR : FB_NR;
        if (!trans && cols == FB_NR) {
            for (k = 0; k < kc; k++) {
                const float* src = B + (k0 + k) * ldb + j0 + p * FB_NR;
                _mm512_store_ps(dst + k * FB_NR, _mm512_loadu_ps(src));
                _mm512_store_ps(dst + k * FB_NR + 16, _mm512_loadu_ps(src + 16));
            }
            continue;
        }
        if (trans && cols == FB_NR) {
            for (c = 0; c < FB_NR; c += 8)
                fb_transpose_rows8(B + (j0 + p * FB_NR + c) * ldb + k0, ldb,
                                   kc, dst + c, FB_NR);
            continue;
        }
        for (k = 0; k < kc; k++)
            for (c = 0; c < FB_NR; c++)
                dst[k * FB_NR + c] = c >= cols ? 0.0f : trans
                    ? B[(j0 + p * FB_NR + c) * ldb + k0 + k]
                    : B[(k0 + k) * ldb + j0 + p * FB_NR + c];
    }
}

/* The MR x NR tile at C (row stride ldc) = (add ? C : 0) + the product of
 * an A panel (kc x MR) and a B panel (kc x NR): one FMA chain per element,
 * k in order. */
FB_AVX512 static void fb_kernel(int kc, const float* Ap, const float* Bp,
                                float* C, ptrdiff_t ldc, int add) {
    __m512 c0a = _mm512_setzero_ps(), c0b = _mm512_setzero_ps();
    __m512 c1a = _mm512_setzero_ps(), c1b = _mm512_setzero_ps();
    __m512 c2a = _mm512_setzero_ps(), c2b = _mm512_setzero_ps();
    __m512 c3a = _mm512_setzero_ps(), c3b = _mm512_setzero_ps();
    __m512 c4a = _mm512_setzero_ps(), c4b = _mm512_setzero_ps();
    __m512 c5a = _mm512_setzero_ps(), c5b = _mm512_setzero_ps();
    __m512 c6a = _mm512_setzero_ps(), c6b = _mm512_setzero_ps();
    __m512 c7a = _mm512_setzero_ps(), c7b = _mm512_setzero_ps();
    __m512 ba, bb, a;
    int k;
    for (k = 0; k < kc; k++) {
        ba = _mm512_load_ps(Bp);
        bb = _mm512_load_ps(Bp + 16);
#define FB_ROW(i) a = _mm512_set1_ps(Ap[i]); \
        c##i##a = _mm512_fmadd_ps(a, ba, c##i##a); \
        c##i##b = _mm512_fmadd_ps(a, bb, c##i##b);
        FB_ROW(0) FB_ROW(1) FB_ROW(2) FB_ROW(3)
        FB_ROW(4) FB_ROW(5) FB_ROW(6) FB_ROW(7)
#undef FB_ROW
        Ap += FB_MR;
        Bp += FB_NR;
    }
#define FB_OUT(i) { float* r = C + i * ldc; \
        if (add) { c##i##a = _mm512_add_ps(_mm512_loadu_ps(r), c##i##a); \
                   c##i##b = _mm512_add_ps(_mm512_loadu_ps(r + 16), c##i##b); } \
        _mm512_storeu_ps(r, c##i##a); _mm512_storeu_ps(r + 16, c##i##b); }
    FB_OUT(0) FB_OUT(1) FB_OUT(2) FB_OUT(3)
    FB_OUT(4) FB_OUT(5) FB_OUT(6) FB_OUT(7)
#undef FB_OUT
}

/* Row-major C (m x n) = op(A) (m x k) op(B) (k x n) + beta C for beta 0
 * (C not read) or 1; lda, ldb, ldc are the row strides as stored. Returns
 * 0 without touching C where BLAS is to compute it (see the top). */
static int fastbp_sgemm(int ta, int tb, int m, int n, int k, const float* A,
                        int lda, const float* B, int ldb, float beta,
                        float* C, int ldc) {
    float tile[FB_MR * FB_NR] __attribute__((aligned(64)));
    float* Ap;
    float* Bp;
    int jc, pc, ic, jr, ir, i, j;
    if (n < FB_MIN_N || k < FB_MIN_K || m <= 0 || !(beta == 0 || beta == 1)
            || !fastbp_sgemm_enabled())
        return 0;
    Ap = fb_buffers();
    if (Ap == NULL)
        return 0;
    Bp = Ap + (size_t)FB_MC * FB_KC;
    for (jc = 0; jc < n; jc += FB_NC) {
        int nc = n - jc < FB_NC ? n - jc : FB_NC;
        for (pc = 0; pc < k; pc += FB_KC) {
            int kc = k - pc < FB_KC ? k - pc : FB_KC;
            int add = pc > 0 || beta != 0;
            fb_pack_b(tb, B, ldb, pc, jc, kc, nc, Bp);
            for (ic = 0; ic < m; ic += FB_MC) {
                int mc = m - ic < FB_MC ? m - ic : FB_MC;
                fb_pack_a(ta, A, lda, ic, pc, mc, kc, Ap);
                for (jr = 0; jr < nc; jr += FB_NR) {
                    int nr = nc - jr < FB_NR ? nc - jr : FB_NR;
                    const float* bp = Bp + (size_t)(jr / FB_NR) * kc * FB_NR;
                    for (ir = 0; ir < mc; ir += FB_MR) {
                        int mr = mc - ir < FB_MR ? mc - ir : FB_MR;
                        const float* ap = Ap + (size_t)(ir / FB_MR) * kc * FB_MR;
                        float* c = C + (ptrdiff_t)(ic + ir) * ldc + jc + jr;
                        if (mr == FB_MR && nr == FB_NR) {
                            fb_kernel(kc, ap, bp, c, ldc, add);
                            continue;
                        }
                        /* an edge tile: the same sums, into a full tile */
                        fb_kernel(kc, ap, bp, tile, FB_NR, 0);
                        for (i = 0; i < mr; i++)
                            for (j = 0; j < nr; j++)
                                c[(ptrdiff_t)i * ldc + j] = add
                                    ? c[(ptrdiff_t)i * ldc + j] + tile[i * FB_NR + j]
                                    : tile[i * FB_NR + j];
                    }
                }
            }
        }
    }
    return 1;
}

#else  /* no AVX-512 kernel in this build: BLAS computes every product */

static int fastbp_sgemm_enabled(void) { return 0; }

static void fastbp_sgemm_warm(void) {}

static int fastbp_sgemm(int ta, int tb, int m, int n, int k, const float* A,
                        int lda, const float* B, int ldb, float beta,
                        float* C, int ldc) {
    (void)ta; (void)tb; (void)m; (void)n; (void)k; (void)A; (void)lda;
    (void)B; (void)ldb; (void)beta; (void)C; (void)ldc;
    return 0;
}

#endif
#endif
