"""fastbp: fast multilayer-perceptron training on the CPU.

Compiled forward and backward passes over BLAS, OpenMP-parallel mini-batches,
in-place optimizers, behind scikit-learn's estimator API.
"""
from fastbp._estimators import MLPClassifier, MLPRegressor
from fastbp._network import ACTIVATIONS, LOSS_OUTPUTS, Network

__version__ = "0.1.0"

__all__ = ["MLPClassifier", "MLPRegressor", "Network", "ACTIVATIONS",
           "LOSS_OUTPUTS", "__version__"]
