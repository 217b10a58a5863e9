"""Stub of the compiled module fastbp._core._inspect."""
import numpy as np
from numpy.typing import NDArray

from fastbp._core._input import Input
from fastbp._core._layout import Layout

def backprop_pass(X: Input, Y: NDArray[np.floating], sw: NDArray[np.floating],
                  params: NDArray[np.floating], layout: Layout, alpha: float,
                  A: NDArray[np.floating], Z: NDArray[np.floating],
                  D: NDArray[np.floating], grad: NDArray[np.floating],
                  dX: NDArray[np.floating]) -> float: ...
