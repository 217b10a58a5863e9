"""Compiled core of fastbp: BLAS wrappers, activation and loss kernels,
forward/backward passes, the epoch loop and in-place optimizers."""
