/* FASTBP_CLONES: compile a function twice, for AVX2 and for the x86-64
 * baseline (SSE2, 4 floats a vector), and pick one at load time where the
 * CPU has AVX2 (GCC's and clang's function multiversioning, on x86-64 Linux).
 * AVX2 without FMA: every operation rounds as in the baseline code (no
 * a * b + c is fused, sums keep their order), so both versions give the same
 * bits. (glibc only: the load-time choice is an ifunc, which musl does not
 * have.) Elsewhere the function is compiled once, for the baseline. */
#ifndef FASTBP_CLONES_H
#define FASTBP_CLONES_H

#if defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__) \
    && defined(__GNUC__) \
    && (defined(__clang__) ? __clang_major__ >= 14 : __GNUC__ >= 6)
#define FASTBP_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define FASTBP_CLONES
#endif

#endif
