"""Deployment beyond one machine: a Triton Inference Server model repository and Ray Serve.

    triton_repo          ``edgefashion export-triton``: the network, Python pre/post-processing
                         models and the ensemble, as a Triton model repository
    triton_python_model  the Python-backend model.py that export_triton copies into the repository
    triton_client        images in, Predictions out, from a running tritonserver (tritonclient)
    ray_serve            ``edgefashion serve --runner ray``: the kiosk app (edgefashion.serve) as
                         Ray Serve replicas with @serve.batch

Needs ``pip install "edgefashion[triton]"`` or ``"edgefashion[ray]"`` for the parts that talk to
them; importing this package imports neither.
"""
