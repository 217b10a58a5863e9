"""Stub of the compiled module fastbp._core._optim."""
import numpy as np
from numpy.typing import NDArray

OPTIMIZERS: dict[str, int]

def step(kind: int, params: NDArray[np.floating], grad: NDArray[np.floating],
         s1: NDArray[np.floating], s2: NDArray[np.floating], n_coef: int,
         t: int, lr: float, momentum: float = ..., nesterov: bool = ...,
         beta1: float = ..., beta2: float = ..., eps: float = ...,
         weight_decay: float = ..., want_sumsq: bool = ...,
         ) -> int | tuple[int, float]: ...
