"""Cheaper equivalents of scikit-learn's per-call checks, for the common case.

A fit of a small network (digits: 1797 x 64, a few ms an epoch) spent about
as long in checks as in training: validating the parameters (~0.35 ms),
validating X and y (~0.4 ms) and seeding a RandomState (~0.25 ms, numpy
seeds a fresh MT19937 from the OS before the legacy seeding overwrites it).
Each helper here gives exactly the result of the scikit-learn or numpy call
it stands for, takes its fast path only where that is certain, and hands
everything else to that call (which then gives its own messages).
"""

from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state as _sk_check_random_state

try:  # the interface MT19937 seeds itself through
    from numpy.random.bit_generator import ISeedSequence
except ImportError:  # pragma: no cover - numpy without it
    ISeedSequence = None


if ISeedSequence is not None:
    class _ZeroState(ISeedSequence):
        """A state for MT19937 to start from that costs nothing to make
        (numpy's own takes ~0.1 ms); the legacy seeding overwrites it."""

        def generate_state(self, n_words, dtype=np.uint32):
            return [0] * n_words

    _ZERO_STATE = _ZeroState()


def check_random_state(seed):
    """scikit-learn's ``check_random_state``: for an integer seed, a new
    ``RandomState(seed)`` (the same state, bit for bit), made in ~5 us
    instead of ~250."""
    if (isinstance(seed, Integral) and not isinstance(seed, bool)
            and ISeedSequence is not None):
        bits = np.random.MT19937(_ZERO_STATE)
        legacy = getattr(bits, "_legacy_seeding", None)
        if legacy is not None:
            legacy(seed)    # ValueError outside [0, 2**32 - 1], as RandomState
            return np.random.RandomState(bits)
    return _sk_check_random_state(seed)


# Parameter sets that passed scikit-learn's _validate_params, by class and
# values (bounded: cleared when full).
_VALID_PARAMS = {}
_PARAM_NAMES = {}
_MAX_VALID = 1024


_PLAIN = (type(None), bool, int, float, str, np.generic)


def _frozen(value):
    """A hashable key for a parameter value, telling types apart (1 from
    1.0 and True); None for anything but None, numbers, strings and
    lists or tuples of them (a dict, an array, a callable or a RandomState
    is validated every time, and never held by the cache)."""
    if isinstance(value, (list, tuple)):
        items = tuple(_frozen(v) for v in value)
        if any(v is None for v in items):
            return None
        return (type(value), items)
    if not isinstance(value, _PLAIN) or (
            isinstance(value, np.generic) and value.dtype.kind not in "biuf"):
        return None
    return (type(value), value)


def params_key(est):
    """The estimator's class and parameter values as a hashable key, or
    None when some value cannot be keyed."""
    cls = type(est)
    names = _PARAM_NAMES.get(cls)
    if names is None:
        names = _PARAM_NAMES[cls] = tuple(cls._get_param_names())
    key = [cls]
    for name in names:
        frozen = _frozen(getattr(est, name))
        if frozen is None:
            return None
        key.append(frozen)
    return tuple(key)


def validate_params_once(est, validate):
    """Run ``validate()`` (scikit-learn's ``_validate_params``) unless these
    very parameter values of this class passed it before: the checks
    depend on the values alone, and cost more than an epoch on small
    data."""
    key = params_key(est)
    if key is not None and key in _VALID_PARAMS:
        return
    validate()
    if key is not None:
        if len(_VALID_PARAMS) >= _MAX_VALID:
            _VALID_PARAMS.clear()
        _VALID_PARAMS[key] = True


def _distinct(X):
    """X, or for a broadcast view (zero strides: the stand-in of an
    out-of-core X, fastbp/_stream.py) the block of the elements it repeats:
    summing a stand-in of 10**10 entries took seconds."""
    if 0 not in X.strides:
        return X
    return X[tuple(slice(0, 1) if s == 0 else slice(None) for s in X.strides)]


def plain_Xy(est, X, y, *, reset, labels):
    """(X, y) as scikit-learn's ``validate_data(est, X, y, multi_output=True,
    dtype=(np.float64, np.float32), reset=reset)`` returns them, when X is
    a finite float32/float64 ndarray and y a 1-D ndarray of integer labels
    (``labels``) or of finite floats, with no feature names involved, and
    None otherwise: the caller then runs validate_data. Sets
    ``n_features_in_`` when reset, as validate_data does."""
    if not (type(X) is np.ndarray and type(y) is np.ndarray and X.ndim == 2
            and y.ndim == 1 and X.dtype.type in (np.float32, np.float64)
            and X.dtype.isnative and y.dtype.isnative
            and X.shape[0] == y.shape[0] and X.shape[0] > 0 and X.shape[1] > 0
            and "feature_names_in_" not in est.__dict__):
        return None
    if labels:
        if y.dtype.kind not in "iu":
            return None
    elif y.dtype.type not in (np.float32, np.float64):
        return None
    if not reset and X.shape[1] != getattr(est, "n_features_in_", None):
        return None
    # (a sum that overflows goes to validate_data, which looks closer)
    with np.errstate(over="ignore", invalid="ignore"):
        if not np.isfinite(_distinct(X).sum()) or (
                not labels and not np.isfinite(y.sum())):
            return None
    if reset:
        est.n_features_in_ = X.shape[1]
    return X, y
