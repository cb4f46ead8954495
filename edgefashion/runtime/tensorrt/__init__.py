"""Loading and running TensorRT engines: what ``runtime.backends.tensorrt`` needs, and nothing that builds.

Modules: ``compat`` (which TensorRT is here and its features), ``cuda`` (the CUDA runtime calls, over
cuda-python or pycuda), ``buffers`` (I/O sizing), ``profiles`` (batch ranges, and how a batch is split to
fit the engine's), ``tensor_io`` (named-tensor vs bindings API), ``plugins`` (plugin libraries),
``sidecar`` (``model.engine.json`` read as a plain record, and the checks before an engine runs),
``loader`` (a deserialized engine and its buffers).

Building engines, and writing their sidecars, is ``edgefashion.engine`` (it imports these modules; they
never import it). Nothing here imports tensorrt or CUDA until a load asks for it.
"""
