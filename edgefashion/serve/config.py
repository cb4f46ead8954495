"""ServeConfig: limits and options of the web service (frozen, validated, to_dict / from_dict)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping

from edgefashion.errors import BadInput


@dataclass(frozen=True)
class ServeConfig:
    """max_upload_mb: request body limit; max_pixels: decoded image limit; concurrency: inference
    worker threads; queue: requests allowed to wait for a worker (more get 503); top_k: categories
    in each answer; jpeg_quality: of the MJPEG stream and overlays."""

    host: str = "127.0.0.1"
    port: int = 8080
    max_upload_mb: float = 10.0
    max_pixels: int = 25_000_000
    concurrency: int = 2
    queue: int = 128
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
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})
