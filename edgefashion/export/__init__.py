"""Export: PyTorch -> ONNX (and, with the precision/engine work, fp16 / int8 / TensorRT)."""
