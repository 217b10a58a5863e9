# OpenMP guard: in a serial build (FASTBP_NO_OPENMP=1) _OPENMP is undefined
# and these calls fall back to their one-thread answers. Cython's prange
# already runs serially there.

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define FASTBP_OPENMP 1
    static int fastbp_max_threads(void) { return omp_get_max_threads(); }
    #else
    #define FASTBP_OPENMP 0
    static int fastbp_max_threads(void) { return 1; }
    #endif
    """
    bint FASTBP_OPENMP
    int fastbp_max_threads() noexcept nogil
