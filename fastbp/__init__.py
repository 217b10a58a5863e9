"""fastbp: fast multilayer-perceptron training on the CPU.

Compiled forward and backward passes over BLAS, OpenMP-parallel mini-batches,
in-place optimizers, behind scikit-learn's estimator API.
"""
from fastbp._config import show_config
from fastbp._estimators import MLPClassifier, MLPRegressor
from fastbp._io import load, save
from fastbp._network import ACTIVATIONS, LOSS_OUTPUTS, Network
from fastbp._onnx import register_skl2onnx, to_onnx
from fastbp._parallel import data_parallel
from fastbp._plot import plot_loss_curve
from fastbp._stream import stream
from fastbp._version import __version__

__all__ = ["MLPClassifier", "MLPRegressor", "Network", "ACTIVATIONS",
           "LOSS_OUTPUTS", "save", "load", "plot_loss_curve", "to_onnx",
           "register_skl2onnx", "data_parallel", "stream", "show_config", "__version__"]
