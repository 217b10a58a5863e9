"""A progress bar over epochs (tqdm), for long fits in a terminal."""
import sys
import time
import warnings


def _stderr_is_terminal():
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class EpochProgress:
    """Shows epochs, training loss and validation loss while a fit runs.

    mode: True (always show; a UserWarning without tqdm), False (never), or
    'auto': only when stderr is a terminal and the fit is expected to take
    more than `min_seconds` (judged after the first epoch).
    """

    def __init__(self, mode, total, desc="fastbp", min_seconds=2.0, file=None):
        self.mode = mode
        self.total = total
        self.desc = desc
        self.min_seconds = min_seconds
        self.file = file
        self._bar = None
        self._start = time.perf_counter()
        self._decided = mode is False
        if mode is True:
            self._open(0)
        elif mode == "auto" and not _stderr_is_terminal():
            self._decided = True

    def _open(self, done):
        try:
            from tqdm.auto import tqdm
        except ImportError:  # tqdm is an optional extra
            self._decided = True
            if self.mode is True:
                # Asked for by name: say why nothing shows. 'auto' (the
                # default) stays quiet without tqdm.
                warnings.warn(
                    "progress=True shows a bar only with tqdm, which is not "
                    "installed: pip install tqdm (or fastbp[progress]). "
                    "Fitting without a progress bar.", UserWarning, stacklevel=4)
            return
        self._bar = tqdm(total=self.total, desc=self.desc, unit="epoch",
                         initial=done, file=self.file, leave=True,
                         dynamic_ncols=True)
        self._decided = True

    @property
    def active(self):
        return self._bar is not None

    def update(self, loss, val_loss=None, val_score=None):
        if not self._decided:
            elapsed = time.perf_counter() - self._start
            if elapsed * self.total > self.min_seconds:
                self._open(0)
            else:
                self._decided = True
        if self._bar is None:
            return
        post = {"loss": f"{loss:.5g}"}
        if val_loss is not None:
            post["val_loss"] = f"{val_loss:.5g}"
        if val_score is not None:
            post["val_score"] = f"{val_score:.4g}"
        self._bar.set_postfix(post, refresh=False)
        self._bar.update(1)

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
