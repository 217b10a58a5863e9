# In-place optimizer updates over flat buffers.
#
# Parameters, gradients and optimizer state each live in one flat array, so
# every optimizer is one fused loop: reduce the per-thread gradient buffers
# in a fixed order, add the L2 term, scale by 1 / sum(sample_weight), update
# the state and the parameter. The formulas are scikit-learn's
# (sklearn/neural_network/_stochastic_optimizers.py) for sgd and adam.

from cython cimport floating
from libc.math cimport pow, sqrt

cdef enum:
    OPT_SGD = 0
    OPT_ADAM = 1
    OPT_RMSPROP = 2
    OPT_ADAMW = 3


cdef struct OptParams:
    int kind
    double lr           # current learning rate (after the schedule)
    double lr_t         # adam / adamw: lr * sqrt(1 - beta2^t) / (1 - beta1^t)
    double momentum     # sgd
    bint nesterov       # sgd
    double beta1        # adam / adamw
    double beta2        # adam / adamw; rmsprop's decay rate rho
    double eps          # adam / adamw / rmsprop
    double weight_decay # adamw: decoupled decay on the weights (not biases)


cdef inline void opt_init(OptParams* o, int kind, double lr, double momentum,
                          bint nesterov, double beta1, double beta2,
                          double eps, double weight_decay) noexcept nogil:
    o.kind = kind
    o.lr = lr
    o.lr_t = lr
    o.momentum = momentum
    o.nesterov = nesterov
    o.beta1 = beta1
    o.beta2 = beta2
    o.eps = eps
    o.weight_decay = weight_decay


cdef inline void opt_set_step(OptParams* o, long long t) noexcept nogil:
    """Adam's bias-corrected step size for update number t (from 1)."""
    if o.kind == OPT_ADAM or o.kind == OPT_ADAMW:
        o.lr_t = o.lr * sqrt(1 - pow(o.beta2, <double>t)) / (1 - pow(o.beta1, <double>t))


cdef extern from "_optim_kernels.h" nogil:
    void fastbp_reduce_f(float* g, const float* rest, int n_rest, Py_ssize_t ldg,
                         Py_ssize_t lo, Py_ssize_t hi)
    void fastbp_reduce_d(double* g, const double* rest, int n_rest, Py_ssize_t ldg,
                         Py_ssize_t lo, Py_ssize_t hi)
    void fastbp_sgd_f(float* p, const float* g, float* v, Py_ssize_t lo,
                      Py_ssize_t hi, float l2, float scale, float lr, float mu,
                      int nesterov)
    void fastbp_sgd_d(double* p, const double* g, double* v, Py_ssize_t lo,
                      Py_ssize_t hi, double l2, double scale, double lr,
                      double mu, int nesterov)
    void fastbp_rmsprop_f(float* p, const float* g, float* s, Py_ssize_t lo,
                          Py_ssize_t hi, float l2, float scale, float lr,
                          float rho, float eps)
    void fastbp_rmsprop_d(double* p, const double* g, double* s, Py_ssize_t lo,
                          Py_ssize_t hi, double l2, double scale, double lr,
                          double rho, double eps)
    void fastbp_adam_f(float* p, const float* g, float* m, float* v,
                       Py_ssize_t lo, Py_ssize_t hi, float l2, float scale,
                       float b1, float b2, float lr_t, float eps, float decay_lr)
    void fastbp_adam_d(double* p, const double* g, double* m, double* v,
                       Py_ssize_t lo, Py_ssize_t hi, double l2, double scale,
                       double b1, double b2, double lr_t, double eps,
                       double decay_lr)
    double fastbp_adam_sumsq_f(float* p, const float* g, float* m, float* v,
                               Py_ssize_t lo, Py_ssize_t hi, float l2, float scale,
                               float b1, float b2, float lr_t, float eps,
                               float decay_lr)
    double fastbp_adam_sumsq_d(double* p, const double* g, double* m, double* v,
                               Py_ssize_t lo, Py_ssize_t hi, double l2,
                               double scale, double b1, double b2, double lr_t,
                               double eps, double decay_lr)
    double fastbp_sumsq_f(const float* p, Py_ssize_t lo, Py_ssize_t hi)
    double fastbp_sumsq_d(const double* p, Py_ssize_t lo, Py_ssize_t hi)


cdef inline double sum_squares(const floating* p, Py_ssize_t lo,
                               Py_ssize_t hi) noexcept nogil:
    """sum(p[lo:hi] ** 2) in double, in a fixed order."""
    if floating is float:
        return fastbp_sumsq_f(p, lo, hi)
    else:
        return fastbp_sumsq_d(p, lo, hi)


cdef inline double update_range(const OptParams* o, floating* p,
                                const floating* g, Py_ssize_t lo, Py_ssize_t hi,
                                floating l2, floating decay, floating scale,
                                floating* s1, floating* s2,
                                bint want_sumsq) noexcept nogil:
    """Update p[lo:hi] in place with the gradient (g + l2 * p) * scale.

    IN:  g, the summed gradient; l2, the L2 coefficient; decay, adamw's
         decoupled weight decay; scale, 1 / sum(sample_weight).
    IN/OUT: p, the parameters; s1, s2 the optimizer state (velocity for sgd,
         first / second moments for adam, mean square for rmsprop).
    Returns sum(p[lo:hi] ** 2) of the updated p when want_sumsq (Adam sums
    in its update's pass, the others after it: the same bits), else 0.
    """
    cdef int kind = o.kind
    if kind == OPT_SGD:
        if floating is float:
            fastbp_sgd_f(p, g, s1, lo, hi, l2, scale, <float>o.lr,
                         <float>o.momentum, o.nesterov)
        else:
            fastbp_sgd_d(p, g, s1, lo, hi, l2, scale, o.lr, o.momentum,
                         o.nesterov)
    elif kind == OPT_RMSPROP:
        if floating is float:
            fastbp_rmsprop_f(p, g, s1, lo, hi, l2, scale, <float>o.lr,
                             <float>o.beta2, <float>o.eps)
        else:
            fastbp_rmsprop_d(p, g, s1, lo, hi, l2, scale, o.lr, o.beta2, o.eps)
    elif want_sumsq:
        if floating is float:
            return fastbp_adam_sumsq_f(p, g, s1, s2, lo, hi, l2, scale,
                                       <float>o.beta1, <float>o.beta2,
                                       <float>o.lr_t, <float>o.eps,
                                       <float>(o.lr * decay))
        else:
            return fastbp_adam_sumsq_d(p, g, s1, s2, lo, hi, l2, scale,
                                       o.beta1, o.beta2, o.lr_t, o.eps,
                                       o.lr * decay)
    else:
        if floating is float:
            fastbp_adam_f(p, g, s1, s2, lo, hi, l2, scale, <float>o.beta1,
                          <float>o.beta2, <float>o.lr_t, <float>o.eps,
                          <float>(o.lr * decay))
        else:
            fastbp_adam_d(p, g, s1, s2, lo, hi, l2, scale, o.beta1, o.beta2,
                          o.lr_t, o.eps, o.lr * decay)
    return sum_squares(p, lo, hi) if want_sumsq else 0


cdef inline double update(const OptParams* o, floating* p, floating* G,
                          int n_grads, Py_ssize_t ldg, Py_ssize_t lo,
                          Py_ssize_t hi, Py_ssize_t n_coef, floating alpha,
                          floating scale, floating* s1, floating* s2,
                          bint want_sumsq) noexcept nogil:
    """Update p[lo:hi] with the sum of the n_grads gradient buffers G[c]
    (row stride ldg; summed in order into G[0], which is overwritten).

    The first n_coef entries of p are weights (they get the L2 term, or
    adamw's decay), the rest are biases. Returns the sum of squares of the
    updated weights in [lo, hi) when want_sumsq, else 0."""
    cdef Py_ssize_t mid = n_coef
    cdef floating l2 = 0 if o.kind == OPT_ADAMW else alpha
    cdef floating decay = <floating>o.weight_decay if o.kind == OPT_ADAMW else 0
    cdef double sq = 0
    if mid < lo:
        mid = lo
    if mid > hi:
        mid = hi
    if n_grads > 1:
        if floating is float:
            fastbp_reduce_f(G, G + ldg, n_grads - 1, ldg, lo, hi)
        else:
            fastbp_reduce_d(G, G + ldg, n_grads - 1, ldg, lo, hi)
    if mid > lo:
        sq = update_range(o, p, G, lo, mid, l2, decay, scale, s1, s2,
                          want_sumsq)
    if hi > mid:
        update_range(o, p, G, mid, hi, 0, 0, scale, s1, s2, False)
    return sq
