/* Flush subnormal numbers to zero inside fastbp's compiled loops only.
 *
 * Adam's moments of inactive units, and L2-decayed weights, drift into
 * subnormal range; every operation that reads or makes a subnormal then
 * takes a slow microcode path (measured: Adam epochs 1.6-2x slower). Each
 * compiled call sets flush-to-zero and denormals-are-zero on the threads
 * that compute, and puts the previous mode back before it returns, so the
 * rest of the process keeps IEEE subnormals (unlike -ffast-math).
 */
#ifndef FASTBP_FPMODE_H
#define FASTBP_FPMODE_H

#if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#include <xmmintrin.h>
typedef unsigned int fastbp_fpmode;
static inline fastbp_fpmode fastbp_ftz_on(void) {
    fastbp_fpmode old = _mm_getcsr();
    _mm_setcsr(old | 0x8040u);   /* FTZ (bit 15) | DAZ (bit 6) */
    return old;
}
static inline void fastbp_fpmode_restore(fastbp_fpmode old) { _mm_setcsr(old); }
#elif defined(__aarch64__) && defined(__GNUC__)
typedef unsigned long fastbp_fpmode;
static inline fastbp_fpmode fastbp_ftz_on(void) {
    fastbp_fpmode old;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(old));
    __asm__ __volatile__("msr fpcr, %0" : : "r"(old | (1ul << 24)));  /* FZ */
    return old;
}
static inline void fastbp_fpmode_restore(fastbp_fpmode old) {
    __asm__ __volatile__("msr fpcr, %0" : : "r"(old));
}
#else
typedef unsigned int fastbp_fpmode;
static inline fastbp_fpmode fastbp_ftz_on(void) { return 0; }
static inline void fastbp_fpmode_restore(fastbp_fpmode old) { (void)old; }
#endif

#endif
