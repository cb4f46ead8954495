"""Loading and running TensorRT engines: what ``runtime.backends.tensorrt`` needs, and nothing that builds.

Modules: ``compat`` (which TensorRT is here, its features, every TensorRT name edgefashion uses),
``cuda`` (the CUDA runtime calls, over cuda-python or pycuda), ``buffers`` (I/O sizing), ``profiles``
(batch ranges and the profile an engine is run with), ``tensor_io`` (named-tensor vs bindings API),
``plugins`` (plugin libraries), ``settings`` (the build settings a sidecar records), ``sidecar``
(``model.engine.json`` and the checks before an engine runs).

Building engines is ``edgefashion.engine`` (it imports these modules; they never import it). Nothing here
imports tensorrt or CUDA until a load asks for it.
"""
