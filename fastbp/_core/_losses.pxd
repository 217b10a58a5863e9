# Output layer: activation, loss value and output delta, one row at a time.
#
# Each output activation is paired with its canonical loss, so that the
# derivative of the loss with respect to the pre-activation z is f(z) - y.
# Loss values follow scikit-learn's definitions (sklearn/neural_network/
# _base.py): squared error is 1/2 the mean over outputs, log losses clip the
# probability to [eps, 1 - eps] with eps the dtype's machine epsilon (for
# softmax applied to the log-probability computed stably by log-sum-exp; for
# the logistic output to the rounded probability itself, which is what
# scikit-learn's value reads: L-BFGS line searches see the same numbers),
# Poisson is y log(y / p) - y + p summed over outputs.

from cython cimport floating
from libc.math cimport log, logf, exp, expf
from libc.float cimport FLT_EPSILON, DBL_EPSILON

from fastbp._core._activations cimport (
    fexp, flog1p, sigmoid,
    OUT_IDENTITY, OUT_SOFTMAX, OUT_LOGISTIC, OUT_EXP,
)


# The softmax's exp: vectorized loops over a row, and the same function one
# value at a time (the same bits for the same value: _exp_kernels.h).
cdef extern from "_exp_kernels.h" nogil:
    float fastbp_expf1(float x)
    double fastbp_exp1(double x)
    void fastbp_vexp_f(float* out, const float* x, Py_ssize_t n)
    void fastbp_vexp_d(double* out, const double* x, Py_ssize_t n)
    void fastbp_vexp_inplace_f(float* x, Py_ssize_t n)
    void fastbp_vexp_inplace_d(double* x, Py_ssize_t n)


cdef inline floating sexp(floating x) noexcept nogil:
    if floating is float:
        return fastbp_expf1(x)
    else:
        return fastbp_exp1(x)


cdef inline void vexp(floating* out, const floating* x, Py_ssize_t n) noexcept nogil:
    """out[k] = exp(x[k]); out and x must not overlap."""
    if floating is float:
        fastbp_vexp_f(out, x, n)
    else:
        fastbp_vexp_d(out, x, n)


cdef inline void vexp_inplace(floating* x, Py_ssize_t n) noexcept nogil:
    if floating is float:
        fastbp_vexp_inplace_f(x, n)
    else:
        fastbp_vexp_inplace_d(x, n)


cdef inline floating flog(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


cdef inline floating clip_logp(floating logp) noexcept nogil:
    """log(clip(p, eps, 1 - eps)) given log(p)."""
    cdef floating eps, lo, hi
    if floating is float:
        eps = FLT_EPSILON
    else:
        eps = DBL_EPSILON
    lo = flog(eps)
    hi = flog1p(-eps)
    if logp < lo:
        return lo
    if logp > hi:
        return hi
    return logp


cdef inline floating log_sum_exp(const floating* z, Py_ssize_t n) noexcept nogil:
    """log(sum(exp(z))) of one row, without overflow."""
    cdef Py_ssize_t k
    cdef floating mx = z[0], s = 0
    for k in range(1, n):
        if z[k] > mx:
            mx = z[k]
    for k in range(n):
        s = s + sexp(z[k] - mx)
    return mx + flog(s)


cdef inline void shift_by_max(floating* z, Py_ssize_t n) noexcept nogil:
    """z[k] -= max(z), the softmax's shift (exp(z - max) cannot overflow)."""
    cdef Py_ssize_t k
    cdef floating mx = z[0]
    for k in range(1, n):
        if z[k] > mx:
            mx = z[k]
    for k in range(n):
        z[k] = z[k] - mx


cdef inline void output_activate_rows(int kind, floating* z, Py_ssize_t m,
                                      Py_ssize_t n) noexcept nogil:
    """Apply the output activation to m contiguous rows of n values, in
    place (a softmax's exps in one vectorized loop over the block)."""
    cdef Py_ssize_t i, k
    cdef floating s
    cdef floating* row
    if kind == OUT_SOFTMAX:
        # scikit-learn's softmax: exp(z - max) / sum, one exp per output.
        for i in range(m):
            shift_by_max(z + i * n, n)
        vexp_inplace(z, m * n)
        for i in range(m):
            row = z + i * n
            s = 0
            for k in range(n):
                s = s + row[k]
            for k in range(n):
                row[k] = row[k] / s
    elif kind == OUT_LOGISTIC:
        for k in range(m * n):
            z[k] = sigmoid(z[k])
    elif kind == OUT_EXP:
        for k in range(m * n):
            z[k] = fexp(z[k])


cdef inline void output_activate(int kind, floating* z, Py_ssize_t n) noexcept nogil:
    """Apply the output activation to one row of n values, in place."""
    output_activate_rows(kind, z, 1, n)


cdef inline double softmax_finish(floating* z, const floating* y,
                                  const floating* e, Py_ssize_t n) noexcept nogil:
    """Log loss of one row given z shifted by its max and e = exp(z): z
    becomes the probabilities p = e / sum(e) (as scikit-learn computes them),
    log p = z - log(sum(e)). Returns the unweighted loss."""
    cdef Py_ssize_t k
    cdef double loss = 0
    cdef floating s = 0, lse
    for k in range(n):
        s = s + e[k]
    lse = flog(s)
    s = 1 / s
    for k in range(n):
        if y[k] != 0:
            loss -= y[k] * clip_logp(z[k] - lse)
        z[k] = e[k] * s
    return loss


cdef inline void output_delta(const floating* p, const floating* y, floating w,
                              Py_ssize_t n, floating* delta) noexcept nogil:
    """delta = w * (f(z) - y), the output delta of every canonical loss."""
    cdef Py_ssize_t k
    for k in range(n):
        delta[k] = w * (p[k] - y[k])


cdef inline double loss_delta_row(int kind, floating* z, const floating* y,
                                  floating w, Py_ssize_t n,
                                  floating* delta) noexcept nogil:
    """Loss of one sample and its output delta.

    IN:  z, the output pre-activations (n,); y, the target row (n,);
         w, the sample weight.
    OUT: z is overwritten with the output activation f(z);
         delta (n,) = w * (f(z) - y) when delta is not NULL.
    Returns the unweighted loss of the sample.
    """
    cdef Py_ssize_t k
    cdef double loss = 0
    cdef floating lse, d, p, eps
    if floating is float:
        eps = FLT_EPSILON
    else:
        eps = DBL_EPSILON
    if kind == OUT_IDENTITY:
        for k in range(n):
            d = z[k] - y[k]
            loss += d * d
        loss = 0.5 * loss / n
    elif kind == OUT_SOFTMAX and delta != NULL:
        # One exp per output, kept in delta meanwhile (softmax_finish).
        shift_by_max(z, n)
        vexp(delta, z, n)
        loss = softmax_finish(z, y, delta, n)
    elif kind == OUT_SOFTMAX:
        lse = log_sum_exp(z, n)
        for k in range(n):
            if y[k] != 0:
                loss -= y[k] * clip_logp(z[k] - lse)
            z[k] = sexp(z[k] - lse)
    elif kind == OUT_LOGISTIC:
        output_activate(kind, z, n)
        for k in range(n):
            # scikit-learn's value: log of the clipped, rounded probability
            # (1 - p rounded is what its loss reads when p is near 1).
            p = z[k]
            if p < eps:
                p = eps
            if p > 1 - eps:
                p = 1 - eps
            if y[k] != 0:
                loss -= y[k] * flog(p)
            if y[k] != 1:
                loss -= (1 - y[k]) * flog(1 - p)
    elif kind == OUT_EXP:
        for k in range(n):
            d = fexp(z[k])
            if y[k] > 0:
                loss += y[k] * (flog(y[k]) - z[k])
            loss += d - y[k]
            z[k] = d
    if delta != NULL:
        output_delta(z, y, w, n, delta)
    return loss
