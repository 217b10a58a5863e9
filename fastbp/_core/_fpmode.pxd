# Flush-to-zero for the duration of a compiled call (see _fpmode.h).

cdef extern from "_fpmode.h" nogil:
    ctypedef unsigned long fastbp_fpmode
    fastbp_fpmode fastbp_ftz_on()
    void fastbp_fpmode_restore(fastbp_fpmode old)
