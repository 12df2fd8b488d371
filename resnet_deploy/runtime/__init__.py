"""What running on a GPU needs, below the runners that use it (backends) and the builder
(tensorrt): CUDA calls with their one error check (cuda), CUDA events and streams for timing
(cuda_events), and the TensorRT runtime: the lazily imported module (trt), a deserialized plan
(engine), its sidecar (plan_meta), its optimization-profile shapes (profiles) and its layer
report (inspector). Nothing here imports a layer above it, and nothing imports tensorrt,
cuda-python or torch until a GPU path starts.
"""
