"""FP16 conversion, INT8 calibration and Q/DQ, and accuracy against FP32.

Precision lives in the ONNX graph (DESIGN.md): TensorRT 11 builds strongly typed networks
only, so FP16 is an FP16 ONNX model and INT8 an ONNX model with explicit Q/DQ nodes.
"""
