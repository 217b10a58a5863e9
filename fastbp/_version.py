"""The version of fastbp (a leaf: model files and the ONNX export record it
without importing the package above them)."""
__version__ = "0.1.0"
