"""resnet-deploy: take a ResNet from PyTorch to ONNX, FP16/INT8 and TensorRT, and measure it."""

__version__ = "0.1.0"
