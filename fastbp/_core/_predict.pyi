"""Stub of the compiled module fastbp._core._predict."""
import numpy as np
from numpy.typing import NDArray

from fastbp._core._layout import Layout

class Predictor:
    """Forward pass over up to `rows` dense rows with a workspace of its own."""

    @property
    def rows(self) -> int: ...
    @property
    def dtype(self) -> np.dtype: ...
    def __init__(self, params: NDArray[np.floating], layout: Layout,
                 rows: int) -> None: ...
    def __call__(self, X: NDArray[np.floating], out: NDArray[np.floating],
                 out_kind: int = ..., check_finite: bool = ...,
                 ) -> NDArray[np.floating]: ...
