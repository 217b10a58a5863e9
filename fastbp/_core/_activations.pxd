# Hidden-layer activations: forward value and derivative, one inline nogil
# function each, selected by an integer code. The loops that call them switch
# on the code once per call (gcc unswitches the loop at -O3), so every inner
# loop is branch-free and vectorizable: ReLU is written as a select, not a
# conditional store, which gcc does not vectorize (148 against 29 us for
# bias + ReLU over a 256x1024 float32 block). The select is `0 if x <= 0
# else x`, not `x if x > 0 else 0`: NaN <= 0 is false, so a NaN (from a NaN
# weight or an overflow) stays NaN instead of becoming a plausible 0; gcc
# vectorizes both forms alike (44 us either way on a 256x1024 float32 block).
#
# Derivatives are expressed through the layer's output a = f(z), as
# scikit-learn does, except GELU whose derivative needs the pre-activation z.

from cython cimport floating
from libc.math cimport exp, expf, expm1, expm1f, log1p, log1pf, tanh, tanhf
from libc.math cimport erf, erff, fabs, fabsf, sqrt

cdef extern from "_elementwise.h" nogil:
    void fastbp_bias_relu_f(float* a, const float* b, Py_ssize_t m, Py_ssize_t n,
                            Py_ssize_t ld)
    void fastbp_bias_relu_d(double* a, const double* b, Py_ssize_t m, Py_ssize_t n,
                            Py_ssize_t ld)
    void fastbp_bias_add_f(float* a, const float* b, Py_ssize_t m, Py_ssize_t n,
                           Py_ssize_t ld)
    void fastbp_bias_add_d(double* a, const double* b, Py_ssize_t m, Py_ssize_t n,
                           Py_ssize_t ld)
    void fastbp_relu_back_f(float* delta, const float* a, Py_ssize_t n)
    void fastbp_relu_back_d(double* delta, const double* a, Py_ssize_t n)
    void fastbp_colsum_f(float* gb, const float* D, Py_ssize_t m, Py_ssize_t ld,
                         Py_ssize_t j0, Py_ssize_t j1, int zero)
    void fastbp_colsum_d(double* gb, const double* D, Py_ssize_t m, Py_ssize_t ld,
                         Py_ssize_t j0, Py_ssize_t j1, int zero)

cdef enum:
    ACT_IDENTITY = 0
    ACT_LOGISTIC = 1
    ACT_TANH = 2
    ACT_RELU = 3
    ACT_LEAKY_RELU = 4
    ACT_ELU = 5
    ACT_SOFTPLUS = 6
    ACT_GELU = 7

# leaky_relu slope 0.01, elu alpha 1.0; 0.707.. = 1/sqrt(2), 0.398.. = 1/sqrt(2 pi).

cdef enum:
    # Output activation and its canonical loss: delta = f(z) - y for each.
    OUT_IDENTITY = 0     # squared error
    OUT_SOFTMAX = 1      # multiclass log loss
    OUT_LOGISTIC = 2     # binary log loss (binary and multilabel)
    OUT_EXP = 3          # Poisson deviance



cdef inline floating fexp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating fexpm1(floating x) noexcept nogil:
    if floating is float:
        return expm1f(x)
    else:
        return expm1(x)


cdef inline floating flog1p(floating x) noexcept nogil:
    if floating is float:
        return log1pf(x)
    else:
        return log1p(x)


cdef inline floating fabs_(floating x) noexcept nogil:
    if floating is float:
        return fabsf(x)
    else:
        return fabs(x)


cdef inline floating sigmoid(floating x) noexcept nogil:
    # Never exponentiates a positive number: no overflow for any x.
    cdef floating e
    if x >= 0:
        return 1 / (1 + fexp(-x))
    e = fexp(x)
    return e / (1 + e)


cdef inline floating softplus(floating x) noexcept nogil:
    # log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))
    return (x if x > 0 else 0) + flog1p(fexp(-fabs_(x)))


cdef inline floating activate(int kind, floating x) noexcept nogil:
    """f(x) for the hidden activation `kind`."""
    if kind == ACT_RELU:
        return 0 if x <= 0 else x
    elif kind == ACT_LOGISTIC:
        return sigmoid(x)
    elif kind == ACT_TANH:
        if floating is float:
            return tanhf(x)
        else:
            return tanh(x)
    elif kind == ACT_LEAKY_RELU:
        return x if x > 0 else <floating>0.01 * x
    elif kind == ACT_ELU:
        return x if x > 0 else <floating>1.0 * fexpm1(x)
    elif kind == ACT_SOFTPLUS:
        return softplus(x)
    elif kind == ACT_GELU:
        if floating is float:
            return 0.5 * x * (1 + erff(x * <float>0.7071067811865476))
        else:
            return 0.5 * x * (1 + erf(x * 0.7071067811865476))
    return x


cdef inline floating derivative(int kind, floating a, floating z) noexcept nogil:
    """f'(z), from the output a = f(z) (and z itself, used by GELU only)."""
    if kind == ACT_RELU:
        return 1 if a > 0 else 0
    elif kind == ACT_LOGISTIC:
        return a * (1 - a)
    elif kind == ACT_TANH:
        return 1 - a * a
    elif kind == ACT_LEAKY_RELU:
        return 1 if a > 0 else <floating>0.01
    elif kind == ACT_ELU:
        # a = alpha * (exp(z) - 1) for z <= 0, so f'(z) = a + alpha.
        return 1 if a > 0 else a + <floating>1.0
    elif kind == ACT_SOFTPLUS:
        # f'(z) = sigmoid(z) = 1 - exp(-a), accurate for tiny a via expm1.
        return -fexpm1(-a)
    elif kind == ACT_GELU:
        if floating is float:
            return (0.5 * (1 + erff(z * <float>0.7071067811865476))
                    + z * <float>0.3989422804014327 * expf(-0.5 * z * z))
        else:
            return (0.5 * (1 + erf(z * 0.7071067811865476))
                    + z * 0.3989422804014327 * exp(-0.5 * z * z))
    return 1


cdef inline void bias_activate(int kind, floating* a, const floating* b,
                               Py_ssize_t m, Py_ssize_t n, floating* z,
                               Py_ssize_t ld) noexcept nogil:
    """a[i, j] = f(a[i, j] + b[j]) over an (m, n) block of row stride ld,
    in place.

    When z is not NULL the pre-activation is stored there too, with the
    same layout (GELU needs it for the backward pass). Done right after the
    GEMM, while the block is in cache.
    """
    cdef Py_ssize_t i, j
    cdef floating* row
    cdef floating x
    if z == NULL and kind == ACT_RELU:      # (_elementwise.h: wider vectors)
        if floating is float:
            fastbp_bias_relu_f(a, b, m, n, ld)
        else:
            fastbp_bias_relu_d(a, b, m, n, ld)
        return
    if z == NULL and kind == ACT_IDENTITY:
        if floating is float:
            fastbp_bias_add_f(a, b, m, n, ld)
        else:
            fastbp_bias_add_d(a, b, m, n, ld)
        return
    for i in range(m):
        row = a + i * ld
        if z != NULL:
            for j in range(n):
                x = row[j] + b[j]
                z[i * ld + j] = x
                row[j] = activate(kind, x)
        else:
            for j in range(n):
                row[j] = activate(kind, row[j] + b[j])


cdef inline void column_sums(floating* gb, const floating* D, Py_ssize_t m,
                             Py_ssize_t ld, Py_ssize_t j0, Py_ssize_t j1,
                             bint zero) noexcept nogil:
    """gb[j] (from 0 when zero, else from its value) plus the column sums
    of D's m rows (row 0 first), for j in [j0, j1): a layer's bias
    gradient."""
    if floating is float:
        fastbp_colsum_f(gb, D, m, ld, j0, j1, zero)
    else:
        fastbp_colsum_d(gb, D, m, ld, j0, j1, zero)


cdef inline void mul_derivative(int kind, floating* delta, const floating* a,
                                const floating* z, Py_ssize_t size) noexcept nogil:
    """delta *= f'(z) elementwise over `size` contiguous values."""
    cdef Py_ssize_t i
    if kind == ACT_IDENTITY:
        return
    if kind == ACT_RELU:
        if floating is float:
            fastbp_relu_back_f(delta, a, size)
        else:
            fastbp_relu_back_d(delta, a, size)
    elif kind == ACT_GELU:
        for i in range(size):
            delta[i] = delta[i] * derivative(kind, a[i], z[i])
    else:
        for i in range(size):
            delta[i] = delta[i] * derivative(kind, a[i], a[i])
