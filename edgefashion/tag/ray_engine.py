"""``--runner ray``: Ray Data batch inference, one Predictor per actor.

    blocks of paths (from_arrow, one block per output part)
        -> map_batches(TagWorker, concurrency=workers, num_cpus / num_gpus per actor)
        -> the driver iterates the result blocks and writes each as one part

The paths are in-memory blocks, so there are no read tasks to starve: each actor reads and
decodes its own images in threads (local files or fsspec URLs). By default the actors together
reserve the cluster's CPUs minus half a CPU, so Ray Data's own small tasks always find room (two
1-CPU actors on a 2-CPU machine starved them and the job hung). A dead actor is restarted
(``max_restarts``) and its block retried (``max_task_retries``); the driver's writer drops any
path it already wrote, so a retry can neither lose nor duplicate rows.

On a cluster (``address`` given) the model travels to the actors through Ray's object store
(file bytes, written to a temp folder on each worker), so it needs no shared filesystem; the
images must be readable from every node (a shared mount or an fsspec URL such as s3://).
"""
from __future__ import annotations

import contextlib
import logging
from typing import Callable, Iterator, Sequence

from edgefashion.errors import BackendUnavailable, BadInput
from edgefashion.tag.options import TagOptions
from edgefashion.tag.rows import paths_table
from edgefashion.tag.worker import TagWorker, model_files

INSTALL = 'pip install "edgefashion[ray]"'
RESERVED_CPUS = 0.5  # left unreserved for Ray Data's own tasks


def import_ray():
    """The ray module with Ray Data, or BackendUnavailable saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:
        raise BackendUnavailable(f"--runner ray needs Ray Data ({e}): {INSTALL}") from e
    return ray


@contextlib.contextmanager
def ray_session(opts: TagOptions) -> Iterator[object]:
    """Connect to ``opts.address`` or start a local Ray; shut down only what this call started."""
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        kw = dict(include_dashboard=False, ignore_reinit_error=True, log_to_driver=False,
                  configure_logging=True, logging_level=logging.WARNING)
        if opts.address:
            kw["address"] = opts.address
        elif opts.ray_cpus:
            kw["num_cpus"] = int(opts.ray_cpus)
        ray.init(**{**kw, **dict(opts.ray_init)})
        started = True
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def actor_cpus(opts: TagOptions, cluster_cpus: float) -> float:
    """CPUs each actor reserves: the option, or an equal share of the cluster less RESERVED_CPUS
    (rounded down to a quarter CPU, at least a quarter)."""
    if opts.cpus_per_worker is not None:
        cpus = float(opts.cpus_per_worker)
    elif opts.gpus_per_worker > 0:
        cpus = 1.0
    else:
        cpus = max(0.25, int(4 * (cluster_cpus - RESERVED_CPUS) / opts.workers) / 4)
    if cpus * opts.workers > cluster_cpus - RESERVED_CPUS + 1e-9 and opts.address is None:
        raise BadInput(f"{opts.workers} actors x {cpus} CPUs leave no CPU for Ray Data's own tasks "
                       f"on this {cluster_cpus:g}-CPU Ray (the job would hang); use fewer actors or "
                       "a smaller --cpus-per-actor")
    return cpus


def run_ray(model: str, blocks: Sequence[list[str]], opts: TagOptions,
            write: Callable[[object], None]) -> None:
    """Tag every block with a Ray Data actor pool; ``write(table)`` per finished block."""
    with ray_session(opts) as ray:
        from ray.data import ActorPoolStrategy, DataContext

        DataContext.get_current().enable_progress_bars = False  # tag_images shows one bar: images
        cpus = actor_cpus(opts, float(ray.cluster_resources().get("CPU", 1)))
        # a cluster gets the model's bytes (no shared filesystem needed); a local Ray, its path
        shipped = ray.put(model_files(model)) if opts.address else model
        ds = ray.data.from_arrow([paths_table(b) for b in blocks])
        ds = ds.map_batches(
            TagWorker, batch_format="pyarrow", batch_size=int(opts.block_size),
            compute=ActorPoolStrategy(size=int(opts.workers)), num_cpus=cpus,
            num_gpus=float(opts.gpus_per_worker) or None,
            fn_constructor_kwargs=dict(model=shipped, top_k=opts.top_k, batch_size=opts.batch_size,
                                       decode_threads=opts.decode_threads, threshold=opts.threshold,
                                       predictor_options=opts.predictor_options(cpus)),
            **_restarts(opts))
        for table in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            write(table)


def _restarts(opts: TagOptions) -> dict:
    """Ray Data's actor pools already restart dead actors and retry their tasks forever
    (max_restarts=-1, max_task_retries=-1); only a different choice is passed on."""
    if int(opts.max_restarts) == -1:
        return {}
    return {"max_restarts": int(opts.max_restarts),
            "max_task_retries": -1 if opts.max_restarts else 0}
