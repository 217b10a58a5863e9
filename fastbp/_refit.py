"""Predictions while another thread refits: the old model or the new one.

A fit changes an estimator's fitted state in many steps (classes_, the
label binarizer, n_outputs_, a new Network, the weights batch by batch), so
a prediction that read those attributes while another thread fits could
mix two models (probabilities of shape (n, 1) from a 3-class model, the
first layer's old weights with the second layer's new ones). So:

- ``_fit`` publishes an :class:`OldModel` (``_fit_view``: the attributes
  and a copy of the weights as they were, both already kept to undo a
  failed call) and only then bumps ``_fit_generation``, before it changes
  anything; it removes the view when every attribute holds the new model.
- :func:`read_model` runs a prediction on the old model while a fit runs
  in another thread; otherwise on the estimator itself, and it runs again
  when a fit began meanwhile (the generation moved). A fit's own thread
  (its early stopping score, its callbacks) sees the model being trained.

Attribute reads and writes are atomic under the GIL; a prediction's
compiled forward pass runs without it, which is why the weights it reads
must be a copy that no fit writes (OldModel) or the check after the pass
must catch a fit that began.
"""
import threading

from fastbp._network import Network


class OldModel:
    """The fitted state of an estimator when a fit began, for predictions
    in other threads while that fit runs.

    Parameters
    ----------
    state : dict
        The estimator's attributes at the start of the fit (not changed
        afterwards; the fit assigns new objects to the estimator instead).
    params : ndarray or None
        A copy of the weights of ``state["_net"]`` (the fit trains that
        buffer in place when it continues the model).
    """

    __slots__ = ("thread", "_state", "_params", "_est", "_lock")

    def __init__(self, state, params):
        self.thread = threading.get_ident()
        self._state = state
        self._params = params
        self._est = None
        self._lock = threading.Lock()

    def estimator(self, cls):
        """An estimator of class cls holding the old model (made once)."""
        with self._lock:
            if self._est is None:
                state = dict(self._state)
                for key in ("_fit_view", "_trainer", "_optimizer"):
                    state.pop(key, None)
                net = state.get("_net")
                if net is not None:
                    if (self._params is not None
                            and "coefs_" in state
                            and len(state["coefs_"]) == len(net.coefs)
                            and all(a is b for a, b in zip(state["coefs_"], net.coefs))
                            and all(a is b for a, b in
                                    zip(state["intercepts_"], net.intercepts))):
                        old = object.__new__(Network)
                        old.__dict__.update(net.__dict__)
                        old.__dict__.pop("_predictor", None)
                        old.params = self._params   # remakes coefs and intercepts
                        state["_net"] = old
                        state["coefs_"] = list(old.coefs)
                        state["intercepts_"] = list(old.intercepts)
                    else:
                        # coefs_ were assigned after that network: the model
                        # is theirs (the network is rebuilt from them)
                        del state["_net"]
                est = object.__new__(cls)
                est.__dict__.update(state)
                self._est = est
            return self._est


def read_model(est, read, X):
    """``read(model, X)`` on one whole model: `est`, or the model it held
    when a fit now running in another thread began."""
    me = threading.get_ident()
    d = est.__dict__
    while True:
        # the generation first, then the view (a fit publishes the view,
        # then bumps the generation): a fit that begins after these two
        # reads changes the generation before it changes anything else
        generation = d.get("_fit_generation", 0)
        view = d.get("_fit_view")
        if view is not None and view.thread != me:
            return read(view.estimator(type(est)), X)
        try:
            out = read(est, X)
        except Exception:
            if d.get("_fit_generation", 0) != generation:
                continue   # a fit began meanwhile: read again
            raise
        if d.get("_fit_generation", 0) == generation:
            return out
