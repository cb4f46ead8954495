"""TagOptions: how ``tag`` runs (frozen, validated, to_dict / from_dict), and the run's summary."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from edgefashion.config_dict import strict_from_dict
from edgefashion.errors import BadInput

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class TagOptions:
    """engine: "local" (threads, no Ray) or "ray" (Ray Data actor pool, local or a cluster).
    block_size: images per block (the unit of work, of retry and of one output part).
    batch_size: images per inference. top_k: categories kept in ``top_k``. threshold: one attribute
    threshold for all (None: the schema's). workers: Predictors (local threads, or Ray actors).
    cpus_per_worker / gpus_per_worker: what each Ray actor reserves (None: fit ``workers`` actors on
    the cluster's CPUs, leaving half a CPU for Ray Data's own tasks; 0 GPUs). threads: ONNX Runtime
    threads per Predictor (None: from the worker's CPUs). decode_threads: readers / decoders per
    worker. backend / device: for Predictor(). address: the Ray cluster ("auto", "ray://host:10001";
    None starts a local Ray). ray_cpus: CPUs of that local Ray (None: all). max_restarts: how often
    Ray restarts a dead actor (-1: always; its blocks are retried). progress: show a progress bar.
    overwrite: delete an existing output first. path_column: the path column of a table source."""

    engine: str = "local"
    block_size: int = 256
    batch_size: int = 16
    top_k: int = 5
    threshold: float | None = None
    workers: int = 1
    cpus_per_worker: float | None = None
    gpus_per_worker: float = 0.0
    threads: int | None = None
    decode_threads: int = 2
    backend: str = "auto"
    device: str | None = None
    address: str | None = None
    ray_cpus: int | None = None
    max_restarts: int = -1
    progress: bool = True
    overwrite: bool = False
    path_column: str | None = None
    ray_init: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise BadInput(f"engine {self.engine!r} is not one of {list(ENGINES)}")
        for name in ("block_size", "batch_size", "top_k", "workers", "decode_threads"):
            if int(getattr(self, name)) < 1:
                raise BadInput(f"{name}={getattr(self, name)} must be at least 1")
        if self.cpus_per_worker is not None and float(self.cpus_per_worker) <= 0:
            raise BadInput(f"cpus_per_worker={self.cpus_per_worker} must be positive")
        if float(self.gpus_per_worker) < 0:
            raise BadInput(f"gpus_per_worker={self.gpus_per_worker} must be >= 0")
        if self.threads is not None and int(self.threads) < 1:
            raise BadInput(f"threads={self.threads} must be at least 1")
        if int(self.max_restarts) < -1:
            raise BadInput(f"max_restarts={self.max_restarts} must be -1 (always) or >= 0")

    def predictor_options(self, cpus: float) -> dict:
        """Predictor() keyword arguments for a worker granted ``cpus`` CPUs."""
        from edgefashion.tag.worker import default_threads

        opts: dict[str, Any] = {"backend": self.backend}
        if self.device is not None:
            opts["device"] = self.device
        opts["threads"] = int(self.threads) if self.threads else default_threads(cpus)
        return opts

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ray_init"] = dict(self.ray_init)
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "TagOptions":
        return strict_from_dict(cls, d, "tag options")


@dataclass
class TagSummary:
    """What a run did: images in the source, already done before, written now (of them errors)."""

    output: str
    total: int
    skipped: int
    written: int
    errors: int
    seconds: float
    engine: str

    @property
    def images_per_s(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "images_per_s": self.images_per_s}

    def __str__(self) -> str:
        return (f"tagged {self.written} images ({self.errors} with errors, {self.skipped} already "
                f"done) in {self.seconds:.1f} s ({self.images_per_s:.1f} images/s, {self.engine}) "
                f"-> {self.output}")
