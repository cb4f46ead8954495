"""INT8 calibration for TensorRT's legacy path (8.x / 10.x): batches of real images, and the cache.

The images and the cache are the ones ``edgefashion.precision`` uses for the Q/DQ ONNX:
``CalibrationBatches`` wraps its ``CalibrationImages`` (the project's own preprocessing) and keeps whole
batches only, as TensorRT calibrates at one fixed batch size; the TensorRT calibration (TensorRT's text
format: ``TRT-<version>-EntropyCalibration2`` then ``tensor: <float32 scale bits in hex>``) is stored
as the ``"tensorrt"`` section of the same JSON cache file, keyed by the model bytes, the preprocessing
and the TensorRT version, so a changed model or preprocessing recalibrates. A cache file that is
already in TensorRT's own format (from trtexec, say) is read and written as such.
``make_entropy_calibrator`` wraps both in an ``IInt8EntropyCalibrator2`` (the thin TensorRT part).
"""
from __future__ import annotations

import logging
import struct
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np

from edgefashion.runtime.tensorrt.compat import parse_version
from edgefashion.errors import BadInput, ModelFileError
from edgefashion.runtime.preprocess import PreprocessConfig

log = logging.getLogger("edgefashion.engine")

TRT_ALGO = "EntropyCalibration2"
CACHE_SECTION = "tensorrt"


class CalibrationBatches:
    """Whole (B, 3, S, S) float32 batches of preprocessed calibration images, made lazily.

    ``images``: image paths. With fewer images than ``batch_size`` the batch shrinks to the number of
    images; otherwise the last partial batch is left out (``dropped``). ``max_images`` picks a seeded
    random subset (``edgefashion.precision.calibration.split_images``), not the first files of a folder.
    """

    def __init__(self, images: Sequence, preprocess_cfg: PreprocessConfig, batch_size: int = 8,
                 max_images: int | None = None, seed: int = 0) -> None:
        from edgefashion.precision.calibration import CalibrationImages, split_images

        if int(batch_size) < 1:
            raise BadInput(f"calibration batch size {batch_size} must be at least 1")
        paths, _ = split_images([Path(p) for p in images], max_images, seed)
        if not paths:
            raise BadInput("no calibration images were given; pass --calib with a folder of real photos")
        self.images = paths
        self.batch_size = min(int(batch_size), len(paths))
        self.source = CalibrationImages(paths, preprocess_cfg, self.batch_size)
        s = preprocess_cfg.input_size
        self.shape = (self.batch_size, 3, s, s)

    @property
    def num_batches(self) -> int:
        return len(self.images) // self.batch_size

    @property
    def dropped(self) -> int:
        return len(self.images) - self.num_batches * self.batch_size

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(self.num_batches):
            yield np.ascontiguousarray(self.source[i], dtype=np.float32)


# ------------------------------------------------------------------ TensorRT's cache format
def trt_version_int(version: str) -> int:
    """TensorRT's NV_TENSORRT_VERSION: 8.6.1 -> 8601; 10.3.0 -> 100300 (major * 10000 from 10 on)."""
    v = parse_version(version)
    return v.major * (1000 if v.major < 10 else 10000) + v.minor * 100 + v.patch


def trt_cache_header(version: str, algo: str = TRT_ALGO) -> str:
    return f"TRT-{trt_version_int(version)}-{algo}"


def encode_trt_cache(header: str, scales: Mapping[str, float]) -> bytes:
    """TensorRT calibration cache text: the header, then ``name: <scale as float32 bits, hex>``."""
    lines = [header]
    for name, scale in scales.items():
        if not np.isfinite(scale) or scale <= 0:
            raise BadInput(f"calibration scale of {name!r} is {scale}; scales must be positive and finite")
        bits = struct.unpack(">I", struct.pack(">f", float(scale)))[0]
        lines.append(f"{name}: {bits:08x}")
    return ("\n".join(lines) + "\n").encode("ascii")


def decode_trt_cache(data: bytes) -> tuple[str, dict[str, float]]:
    """(header, {tensor name: scale}) of a TensorRT calibration cache; ModelFileError when not one."""
    try:
        text = bytes(data).decode("ascii")
    except UnicodeDecodeError as e:
        raise ModelFileError("the calibration cache is not TensorRT's text format (not ASCII)") from e
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or not lines[0].startswith("TRT-"):
        raise ModelFileError("the calibration cache does not start with a 'TRT-<version>-<algorithm>' header")
    scales = {}
    for ln in lines[1:]:
        name, sep, hexbits = ln.rpartition(":")
        try:
            if not sep:
                raise ValueError(ln)
            scales[name] = struct.unpack(">f", struct.pack(">I", int(hexbits.strip()[:8], 16)))[0]
        except (ValueError, struct.error) as e:
            raise ModelFileError(f"calibration cache line {ln!r} is not 'tensor: <hex>'") from e
    return lines[0], scales


def is_trt_cache(path: str | Path) -> bool:
    p = Path(path)
    if not p.is_file():
        return False
    with p.open("rb") as f:
        return f.read(4) == b"TRT-"


# ------------------------------------------------------------------ the cache file
class TrtCalibrationCache:
    """TensorRT's calibration in ``path``: the "tensorrt" section of edgefashion's JSON calibration cache
    (shared with edgefashion.precision), or a whole file in TensorRT's own format.

    The JSON entry is keyed by the model bytes, the preprocessing, the TensorRT major.minor, the
    algorithm and the calibration batch size, plus the image set when images are given: any change
    and ``read`` returns None (TensorRT then recalibrates and ``write`` replaces the entry).
    """

    def __init__(self, path: str | Path, onnx: str | Path, preprocess_cfg: PreprocessConfig,
                 tensorrt_version: str, batch_size: int, images: Sequence[Path] | None = None) -> None:
        from edgefashion.precision import calibration as pc

        self.path = Path(path)
        v = parse_version(tensorrt_version)
        self.parts = pc.cache_key_parts(onnx, preprocess_cfg, f"tensorrt-{TRT_ALGO}",
                                        tensorrt=f"{v.major}.{v.minor}", batch_size=int(batch_size))
        self.key = pc.cache_key(self.parts)
        self.images = pc.images_digest(images) if images else None
        self.num_images = len(images) if images else None
        self.header = trt_cache_header(tensorrt_version)
        self._pc = pc

    @property
    def native(self) -> bool:
        """Whether the file is in TensorRT's own format (read and written as such)."""
        return is_trt_cache(self.path)

    def read(self) -> bytes | None:
        if self.native:
            data = self.path.read_bytes()
            header = data.split(b"\n", 1)[0].decode("ascii", "replace").strip()
            if header != self.header:
                log.warning("calibration cache %s was written by %s; this TensorRT writes %s", self.path,
                            header, self.header)
            return data
        found = self._pc.read_cache(self.path, self.key, CACHE_SECTION, self.images)
        if not found or "cache" not in found:
            return None
        return str(found["cache"]).encode("ascii")

    def write(self, data: bytes) -> Path:
        if self.native:
            self.path.write_bytes(bytes(data))
            return self.path
        decode_trt_cache(data)  # ModelFileError when TensorRT handed us something unexpected
        payload = {"cache": bytes(data).decode("ascii"), "header": self.header}
        return self._pc.write_cache(self.path, self.key, self.parts, CACHE_SECTION, payload,
                                    images=self.images, num_images=self.num_images)


# ------------------------------------------------------------------ the TensorRT part (thin)
def make_entropy_calibrator(trt, batches: CalibrationBatches | None, input_name: str,
                            cache: TrtCalibrationCache | None, cuda):
    """An ``IInt8EntropyCalibrator2`` feeding ``batches`` to ``input_name`` through one device buffer and
    reading / writing ``cache``. ``batches`` may be None when the cache holds a valid calibration."""

    class _EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.batches = batches
            self.iterator = iter(batches) if batches is not None else iter(())
            nbytes = int(np.prod(batches.shape)) * 4 if batches is not None else 0
            self.device = cuda.malloc(nbytes) if nbytes else None
            self.count = 0

        def get_batch_size(self) -> int:
            return self.batches.batch_size if self.batches is not None else 1

        def get_batch(self, names, p_str=None):
            if input_name not in names:
                raise ModelFileError(f"TensorRT asked to calibrate inputs {list(names)}; the calibrator "
                                     f"feeds {input_name!r} only")
            batch = next(self.iterator, None)
            if batch is None:
                return None
            cuda.memcpy_htod(self.device, batch)
            self.count += 1
            log.info("calibration batch %d/%d", self.count, len(self.batches))
            return [int(self.device)]

        def read_calibration_cache(self):
            return cache.read() if cache is not None else None

        def write_calibration_cache(self, data) -> None:
            if cache is not None:
                log.info("wrote the TensorRT calibration to %s", cache.write(bytes(data)))

        def close(self) -> None:
            if self.device is not None:
                cuda.free(self.device)
                self.device = None

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:  # the build is over (or failed): the device buffer goes back
            self.close()

        @contextmanager
        def closing_on_error(self):
            try:
                yield self
            except BaseException:
                self.close()
                raise

    return _EntropyCalibrator()
