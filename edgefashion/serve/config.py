"""ServeConfig: limits and options of the web service (frozen, validated, to_dict / from_dict)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

from edgefashion.config_dict import strict_from_dict
from edgefashion.errors import BadInput


@dataclass(frozen=True)
class ServeConfig:
    """max_upload_mb: request body limit; max_pixels: decoded image limit; concurrency: inference
    worker threads (each runs one batch at a time); queue: requests allowed to wait beyond those
    (more get 503); max_batch / max_delay_ms / preferred_batch: the dynamic batcher (a batch runs
    when max_batch requests wait, when a preferred size can be formed, or when the oldest has waited
    max_delay_ms; max_batch=1 runs each request alone; None: auto_max_batch, chosen by the
    service for its model's device); top_k: categories in each answer; jpeg_quality: of the MJPEG
    stream and overlays."""

    host: str = "127.0.0.1"
    port: int = 8080
    max_upload_mb: float = 10.0
    max_pixels: int = 25_000_000
    concurrency: int = 2
    queue: int = 128
    max_batch: int | None = None
    max_delay_ms: float = 2.0
    preferred_batch: tuple[int, ...] = ()
    top_k: int = 5
    jpeg_quality: int = 80

    def __post_init__(self) -> None:
        if not 0 <= int(self.port) < 65536:
            raise BadInput(f"port {self.port} must lie in 0..65535")
        if self.max_upload_mb <= 0 or int(self.max_pixels) < 1:
            raise BadInput(f"max_upload_mb={self.max_upload_mb} and max_pixels={self.max_pixels} "
                           "must be positive")
        if int(self.concurrency) < 1 or int(self.queue) < 0:
            raise BadInput(f"concurrency={self.concurrency} must be >= 1 and queue={self.queue} >= 0")
        if (self.max_batch is not None and int(self.max_batch) < 1) \
                or not 0 <= float(self.max_delay_ms) <= 60_000:
            raise BadInput(f"max_batch={self.max_batch} must be >= 1 (or None: auto) and "
                           f"max_delay_ms={self.max_delay_ms} in 0..60000")
        object.__setattr__(self, "preferred_batch", _sizes(self.preferred_batch, self.max_batch))
        if int(self.top_k) < 1 or not 1 <= int(self.jpeg_quality) <= 100:
            raise BadInput(f"top_k={self.top_k} must be >= 1 and jpeg_quality={self.jpeg_quality} "
                           "in 1..100")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> ServeConfig:
        return strict_from_dict(cls, d, "serve options")


def auto_max_batch(device: str | None, backend: str | None = None) -> int:
    """The batch limit when none is given: 8 on a GPU (CUDA, TensorRT, an OpenVINO GPU), where one
    inference over several images costs little more than over one; 1 (no batching) on a CPU, where
    benchmarks/results/serve_batching.json measured no gain for MSFAN at 224 (ONNX Runtime's
    per-image time grows with the batch there)."""
    gpu = str(device or "").lower().startswith(("cuda", "gpu")) or backend == "tensorrt"
    return 8 if gpu else 1


def _sizes(sizes: Sequence[int] | None, max_batch: int | None) -> tuple[int, ...]:
    out = tuple(sorted({int(v) for v in sizes or ()}))
    if any(v < 1 or (max_batch is not None and v > int(max_batch)) for v in out):
        raise BadInput(f"preferred_batch sizes {list(out)} must lie in 1..max_batch={max_batch}")
    return out
