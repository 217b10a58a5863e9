"""Stub of the compiled module fastbp._core._tuner."""
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

def forward_team(n_threads: int, work: float, single: bool) -> int: ...
def forward_record(n_threads: int, work: float, single: bool,
                   seconds: float) -> None: ...

# Hooks for tests and for looking at the tuner.
def _batch_trace(clear: bool = ...) -> list[tuple[int, float]]: ...
def _tuner_memory(state: Sequence[tuple[int, int, int, float, float, float, float]] | None = ...,
                  *, forward: bool = ...,
                  ) -> list[tuple[int, int, int, float, float, float, float]]: ...
def _tuner_start(work: float, single: bool = ...) -> tuple[int, int]: ...
def _tuner_trace(s_per_row_one: float, s_per_row_team: float, rows: int,
                 n_batches: int, K: int = ..., *, key: int = ...,
                 switch_s: float = ..., wall: float = ...,
                 first_s: float = ...) -> NDArray[np.int8]: ...
