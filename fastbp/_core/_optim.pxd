# In-place optimizer updates over flat buffers.
#
# Parameters, gradients and optimizer state each live in one flat array, so
# every optimizer is one fused loop: reduce the per-thread gradient buffers
# in a fixed order, add the L2 term, scale by 1 / sum(sample_weight), update
# the state and the parameter. The formulas are scikit-learn's
# (sklearn/neural_network/_stochastic_optimizers.py) for sgd and adam.

from cython cimport floating
from libc.math cimport pow, sqrt, sqrtf

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


cdef inline floating fsqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline double update_range(const OptParams* o, floating* p,
                                const floating* G, int n_grads,
                                Py_ssize_t ldg, Py_ssize_t lo, Py_ssize_t hi,
                                floating l2, floating decay, floating scale,
                                floating* s1, floating* s2) noexcept nogil:
    """Update p[lo:hi] in place; return sum(p[lo:hi] ** 2) after the update.

    IN:  G, n_grads gradient buffers of row stride ldg, summed in order;
         l2, the L2 coefficient added as l2 * p before scaling;
         decay, the decoupled weight decay (adamw);
         scale, 1 / sum(sample_weight).
    IN/OUT: p, the parameters; s1, s2 the optimizer state (velocity for sgd,
         first / second moments for adam, mean square for rmsprop).
    """
    cdef Py_ssize_t j
    cdef int c
    cdef floating g, u, v, m
    cdef floating lr = <floating>o.lr
    cdef floating lr_t = <floating>o.lr_t
    cdef floating mu = <floating>o.momentum
    cdef floating b1 = <floating>o.beta1
    cdef floating b2 = <floating>o.beta2
    cdef floating eps = <floating>o.eps
    cdef double sumsq = 0
    cdef int kind = o.kind
    cdef bint nesterov = o.nesterov
    for j in range(lo, hi):
        g = G[j]
        for c in range(1, n_grads):
            g = g + G[c * ldg + j]
        g = (g + l2 * p[j]) * scale
        if kind == OPT_SGD:
            # velocity = mu * velocity - lr * g; update = velocity, or for
            # Nesterov mu * velocity - lr * g with the new velocity.
            u = mu * s1[j] - lr * g
            s1[j] = u
            if nesterov:
                u = mu * u - lr * g
            p[j] = p[j] + u
        elif kind == OPT_RMSPROP:
            v = b2 * s1[j] + (1 - b2) * g * g
            s1[j] = v
            p[j] = p[j] - lr * g / (fsqrt(v) + eps)
        else:
            # adam, and adamw whose decay acts on the weights directly.
            m = b1 * s1[j] + (1 - b1) * g
            v = b2 * s2[j] + (1 - b2) * g * g
            s1[j] = m
            s2[j] = v
            if decay != 0:
                p[j] = p[j] - lr * decay * p[j]
            p[j] = p[j] - lr_t * m / (fsqrt(v) + eps)
        sumsq += p[j] * p[j]
    return sumsq


cdef inline double update(const OptParams* o, floating* p, const floating* G,
                          int n_grads, Py_ssize_t ldg, Py_ssize_t lo,
                          Py_ssize_t hi, Py_ssize_t n_coef, floating alpha,
                          floating scale, floating* s1,
                          floating* s2) noexcept nogil:
    """Update p[lo:hi]; the first n_coef entries of p are weights (they get
    the L2 term, or adamw's decay), the rest are biases. Returns the sum of
    squares of the updated weights in [lo, hi)."""
    cdef Py_ssize_t mid = n_coef
    cdef floating l2 = 0 if o.kind == OPT_ADAMW else alpha
    cdef floating decay = <floating>o.weight_decay if o.kind == OPT_ADAMW else 0
    cdef double sumsq = 0
    if mid < lo:
        mid = lo
    if mid > hi:
        mid = hi
    if mid > lo:
        sumsq = update_range(o, p, G, n_grads, ldg, lo, mid, l2, decay, scale, s1, s2)
    if hi > mid:
        update_range(o, p, G, n_grads, ldg, mid, hi, 0, 0, scale, s1, s2)
    return sumsq
