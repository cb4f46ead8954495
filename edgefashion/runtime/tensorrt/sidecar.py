"""The engine's JSON sidecar (``model.engine.json``) as the runtime reads it, and the checks before an engine runs.

Layout: the ONNX model's edgefashion metadata (format_version, model, model_config, schema, preprocess,
outputs, export, and whatever the precision step embedded) plus one ``"engine"`` section
(``EngineInfo``): precision, profiles, I/O, TensorRT version, GPU, the build settings as plain data
(``builder``) and the exact command that repeats the build (``rebuild_command``), accuracy report, the
engine's sha256 and the source ONNX / calibration cache with their hashes. The engine file itself stays
a plain TensorRT plan that ``trtexec`` can read.

The record is plain data: the runtime only reads it. ``edgefashion.engine.sidecar`` writes it (and turns
``builder`` back into BuildSettings for a rebuild).
"""
from __future__ import annotations

import hashlib
import shlex
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Mapping

from edgefashion.errors import BadInput, EngineMismatchError, ModelFileError
from edgefashion.runtime.tensorrt.compat import parse_version, same_engine_version
from edgefashion.runtime.metadata import parse_metadata, sidecar_path

SIDECAR_VERSION = 1
ENGINE_KEY = "engine"


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class GpuInfo:
    """A GPU as engines care about it: its name and compute capability ('8.6')."""

    name: str
    compute_capability: str

    def __str__(self) -> str:
        return f"{self.name} (compute capability {self.compute_capability})"


@dataclass(frozen=True)
class RuntimeEnv:
    """The TensorRT version and GPU an engine is (to be) run with."""

    tensorrt_version: str
    gpu: GpuInfo


@dataclass(frozen=True)
class EngineInfo:
    """The ``"engine"`` section of the sidecar."""

    file: str                      # engine file name (the sidecar lives beside it)
    sha256: str
    size: int
    precision: str                 # fp32 | fp16 | int8
    build_path: str                # strongly_typed | builder_flags | calibrator
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    profiles: dict                 # input name -> {"min": [...], "opt": [...], "max": [...]}
    io: dict                       # {"inputs": {name: {"shape", "dtype"}}, "outputs": {...}}
    builder: dict                  # the build settings as data (edgefashion.engine's BuildSettings.to_dict())
    source_onnx: str
    source_onnx_sha256: str
    rebuild_command: str | None = None  # `edgefashion build ...` that repeats the build; None in older sidecars
    calib_cache: str | None = None
    calib_cache_sha256: str | None = None
    built_from: str | None = None  # the fp16 / Q/DQ ONNX converted from source_onnx, when the build made one
    built_from_sha256: str | None = None
    plugins: tuple = ()
    accuracy: dict | None = None
    built_at: str = ""
    build_seconds: float | None = None
    edgefashion_version: str = ""
    sidecar_version: int = SIDECAR_VERSION
    notes: tuple = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.precision not in ("fp32", "fp16", "int8"):
            raise BadInput(f"engine precision {self.precision!r} must be fp32, fp16 or int8")
        parse_version(self.tensorrt_version)  # BadInput when malformed
        if self.rebuild_command is not None:
            try:
                shlex.split(self.rebuild_command)
            except (AttributeError, ValueError) as e:  # not a string, or unbalanced quotes
                raise BadInput(f"rebuild_command {self.rebuild_command!r} is not a shell command ({e})") from e
        object.__setattr__(self, "plugins", tuple(self.plugins))
        object.__setattr__(self, "notes", tuple(self.notes))

    @property
    def gpu(self) -> GpuInfo:
        return GpuInfo(self.gpu_name, self.compute_capability)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["plugins"], d["notes"] = list(self.plugins), list(self.notes)
        return d

    @classmethod
    def from_dict(cls, d: Mapping, source: str = "the sidecar") -> "EngineInfo":
        names = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        missing = sorted(required - set(d))
        if missing:
            raise ModelFileError(f"{source} lacks engine fields {missing}; rebuild the engine with "
                                 "`edgefashion build` to get a complete sidecar")
        version = d.get("sidecar_version", SIDECAR_VERSION)
        if not isinstance(version, int) or version > SIDECAR_VERSION:
            raise ModelFileError(f"{source} has sidecar_version {version!r}, newer than this edgefashion "
                                 f"understands ({SIDECAR_VERSION}); upgrade edgefashion")
        try:
            return cls(**{k: v for k, v in d.items() if k in names})
        except (TypeError, BadInput) as e:
            raise ModelFileError(f"{source} has a malformed engine section: {e}") from e


@dataclass(frozen=True)
class EngineSidecar:
    """A parsed sidecar: the model metadata (schema, preprocess, ...) and the engine section."""

    path: Path
    metadata: dict   # the whole JSON, engine section included (what Backend.metadata exposes)
    engine: EngineInfo


def read_engine_sidecar(engine_path: str | Path) -> EngineSidecar | None:
    """The engine's sidecar, or None when there is none (an engine from trtexec, say)."""
    path = sidecar_path(engine_path)
    if not path.is_file():
        return None
    meta = parse_metadata(path.read_text(encoding="utf-8"), repr(str(path)))
    if not isinstance(meta.get(ENGINE_KEY), Mapping):
        raise ModelFileError(f"sidecar {str(path)!r} has no {ENGINE_KEY!r} section; it is not an "
                             "edgefashion engine sidecar (rebuild the engine with `edgefashion build`)")
    return EngineSidecar(path, meta, EngineInfo.from_dict(meta[ENGINE_KEY], repr(str(path))))


def rebuild_command(info: EngineInfo, engine_path: str | Path) -> str:
    """The ``edgefashion build ...`` command that rebuilds this engine: the recorded one, with ``-o`` naming
    ``engine_path`` (where the engine is now; it may have moved since the build)."""
    if not info.rebuild_command:
        return _command_of_older_sidecar(info, engine_path)
    argv = shlex.split(info.rebuild_command)
    if "-o" in argv[:-1]:
        argv[argv.index("-o") + 1] = str(engine_path)
    return " ".join(shlex.quote(a) for a in argv)


def _command_of_older_sidecar(info: EngineInfo, engine_path: str | Path) -> str:
    """Sidecars from before ``rebuild_command`` was recorded: the source, precision and batch (the rest of
    the settings are in their ``builder`` section, which ``rebuild_on_mismatch`` replays in full)."""
    recorded = info.builder if isinstance(info.builder, Mapping) else {}
    args = ["edgefashion", "build", info.source_onnx, "-o", str(engine_path)]
    if recorded.get("precision", "auto") != "auto":
        args += ["--precision", str(recorded["precision"])]
    if recorded.get("batch"):
        args += ["--batch", str(recorded["batch"])]
    return " ".join(shlex.quote(a) for a in args)


def engine_mismatches(info: EngineInfo, env: RuntimeEnv, engine_sha256: str | None = None) -> list[str]:
    """What differs between the engine as recorded and this machine (empty: it may run here)."""
    problems = []
    if engine_sha256 is not None and engine_sha256 != info.sha256:
        problems.append(f"the engine file's sha256 is {engine_sha256[:12]}..., not the {info.sha256[:12]}... "
                        "recorded in its sidecar (the engine was replaced or the sidecar belongs to "
                        "another engine)")
    if not same_engine_version(info.tensorrt_version, env.tensorrt_version):
        problems.append(f"it was built with TensorRT {info.tensorrt_version} and this machine has "
                        f"TensorRT {env.tensorrt_version}")
    if info.compute_capability != env.gpu.compute_capability:
        problems.append(f"it was built for compute capability {info.compute_capability} "
                        f"({info.gpu_name}) and this GPU is {env.gpu}")
    elif _norm(info.gpu_name) != _norm(env.gpu.name):
        problems.append(f"it was built on a {info.gpu_name} and this GPU is a {env.gpu.name} (same compute "
                        f"capability {info.compute_capability}, but engines are tuned per GPU model)")
    return problems


def check_engine(sidecar: EngineSidecar, engine_path: str | Path, env: RuntimeEnv,
                 verify_hash: bool = True) -> None:
    """Raise EngineMismatchError (with the rebuild command) when the engine may not run here."""
    engine_path = Path(engine_path)
    digest = sha256_file(engine_path) if verify_hash else None
    problems = engine_mismatches(sidecar.engine, env, digest)
    if problems:
        raise EngineMismatchError(mismatch_message(engine_path, sidecar.engine, problems))


def mismatch_message(engine_path: Path, info: EngineInfo, problems: list[str]) -> str:
    return (
        f"engine {str(engine_path)!r} cannot run here: " + "; ".join(problems) + ". A TensorRT engine runs "
        "only with the TensorRT version and on the GPU it was built for. Rebuild it on this machine:\n  "
        f"{rebuild_command(info, engine_path)}\nor load it with rebuild_on_mismatch=True (CLI --rebuild) "
        "to rebuild automatically from the ONNX model recorded in the sidecar "
        f"({info.source_onnx})"
    )


def _norm(name: str) -> str:
    return " ".join(str(name).split()).lower()


def describe_engine(engine_path: str | Path) -> dict:
    """What ``edgefashion inspect model.engine`` shows: the engine section of the sidecar, summarized."""
    from edgefashion.errors import MissingMetadata

    side = read_engine_sidecar(engine_path)
    if side is None:
        raise MissingMetadata(f"engine {str(engine_path)!r} has no sidecar {str(sidecar_path(engine_path))!r}; "
                              "build it with `edgefashion build` to record what it is")
    e = side.engine
    gate = ((e.accuracy or {}).get("engine_vs_onnx") or {}).get("gate")
    return {
        "engine": str(engine_path), "model": side.metadata.get("model"), "precision": e.precision,
        "build_path": e.build_path, "tensorrt": e.tensorrt_version, "gpu": str(e.gpu),
        "batch": {n: f"{p['min'][0]}:{p['opt'][0]}:{p['max'][0]}" for n, p in e.profiles.items()},
        "size_mb": round(e.size / 2**20, 2), "built_at": e.built_at, "source_onnx": e.source_onnx,
        "plugins": list(e.plugins), "accuracy_gate": gate, "rebuild": rebuild_command(e, engine_path),
    }
