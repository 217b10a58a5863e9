/* FASTBP_CLONES: compile a function three times, for AVX-512F, for AVX2
 * and for the x86-64 baseline (SSE2, 4 floats a vector), and pick one at
 * load time by what the CPU has (GCC's and clang's function
 * multiversioning, on x86-64 Linux). No a * b + c is fused in any version
 * (setup.py compiles with -ffp-contract=off, and AVX2 alone has no FMA),
 * and sums keep their order (fixed partial sums, not one per lane), so
 * every version rounds as the baseline code does: the same bits. (glibc
 * only: the load-time choice is an ifunc, which musl does not have.)
 * Elsewhere the function is compiled once, for the baseline. */
#ifndef FASTBP_CLONES_H
#define FASTBP_CLONES_H

#if defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__) \
    && defined(__GNUC__) \
    && (defined(__clang__) ? __clang_major__ >= 14 : __GNUC__ >= 6)
#define FASTBP_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FASTBP_CLONES
#endif

#endif
