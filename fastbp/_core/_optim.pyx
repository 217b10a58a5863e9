# cython: language_level=3
"""Python entry point to the fused optimizer updates (the epoch loop calls
the same inline kernel from _optim.pxd directly)."""

from cython cimport floating

from fastbp._core._optim cimport (
    OptParams, opt_init, opt_set_step, update, OPT_SGD, OPT_ADAM, OPT_RMSPROP, OPT_ADAMW,
)

OPTIMIZERS = {"sgd": OPT_SGD, "adam": OPT_ADAM, "rmsprop": OPT_RMSPROP,
              "adamw": OPT_ADAMW}


def step(int kind, floating[::1] params, const floating[::1] grad,
         floating[::1] s1, floating[::1] s2, Py_ssize_t n_coef, long long t,
         double lr, double momentum=0.9, bint nesterov=True,
         double beta1=0.9, double beta2=0.999, double eps=1e-8,
         double weight_decay=0.0, bint want_sumsq=False):
    """One in-place update of `params` with the gradient `grad`.

    `grad` is used as given (no L2 term, no scaling). The first n_coef
    entries are weights: adamw decays them, never the biases. t is the
    number of updates done before this one. Returns t + 1, or with
    want_sumsq (t + 1, the sum of squares of the updated weights, as the
    epoch loop computes it for the next L2 term).
    """
    cdef OptParams o
    cdef double sq = 0
    cdef Py_ssize_t P = params.shape[0]
    if grad.shape[0] != P or s1.shape[0] != P:
        raise ValueError("params, grad and state must have the same length")
    if (kind == OPT_ADAM or kind == OPT_ADAMW) and s2.shape[0] != P:
        raise ValueError("adam needs two state buffers of the parameters' length")
    if not 0 <= n_coef <= P:
        raise ValueError("n_coef out of range")
    t += 1
    opt_init(&o, kind, lr, momentum, nesterov, beta1, beta2, eps, weight_decay)
    opt_set_step(&o, t)
    if P == 0:
        if want_sumsq:
            return t, 0.0
        return t
    with nogil:
        # one gradient buffer: update() does not write into it
        sq = update(&o, &params[0], <floating*>&grad[0], 1, P, 0, P, n_coef,
                    <floating>0, <floating>1, &s1[0],
                    &s2[0] if s2.shape[0] > 0 else NULL, want_sumsq)
    if want_sumsq:
        return t, sq
    return t
