"""fp32 ONNX -> int8 Q/DQ ONNX, calibrated on real images (ONNX Runtime's quantization tools).

Explicit quantization, as TensorRT >= 8 builds it strongly typed and ONNX Runtime CPU runs it:
per-channel symmetric int8 weights, per-tensor symmetric int8 activations (zero point 0, which is what
TensorRT accepts). The ranges come from ``calibrate`` (entropy, percentile or minmax over
preprocessed real images, one batch at a time), and are JSON (ORT's TensorsData) so they can be cached.

Why ONNX Runtime gains nothing from this file on an x86 CPU with VNNI (measured on the AMD EPYC dev VM,
AVX-512 VNNI + BF16; ``benchmarks/bench_openvino.py``, ``results/openvino_*.json``): VNNI's int8 dot
product (``vpdpbusd``) multiplies unsigned 8-bit activations by signed 8-bit weights. ORT's x86 CPU
provider therefore fuses DQ -> Conv -> Q into QLinearConv only for uint8 activations by default
(session option ``session.qdqisint8allowed`` = 0 on x86): with this file's int8 activations only 17
of MSFAN's 35 Conv / Gemm run as int8 kernels; the others run in fp32 between extra Q / DQ passes,
which costs what int8 saves. Setting ``session.qdqisint8allowed=1`` fuses 30 of 35, but into MLAS's
s8 x s8 kernels, which have no VNNI path: slower still. What works on ORT is the ORT layout,
``activations="uint8"`` (``edgefashion quantize --int8-activations uint8``: 30 of 35 fused, faster
than ORT fp32) -- a second file, not accepted by TensorRT. ``quant_format="qoperator"`` is slower than
Q/DQ on ORT. OpenVINO (oneDNN) runs this very file with VNNI kernels (it shifts int8 activations to
uint8 with a compensation term), so ``Predictor("model.int8.onnx")`` picks OpenVINO on x86 when it
is installed (runtime/backends/base.py ``AUTO_INT8_ONNX``) and no CPU-only file is needed.
"""
from __future__ import annotations

import contextlib
import inspect
import io
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from edgefashion.errors import BackendUnavailable, BadInput, ExportError
from edgefashion.precision.calibration import CalibrationImages
from edgefashion.precision.graph import empty_nodes, output_only_nodes

METHODS = {"entropy": "Entropy", "percentile": "Percentile", "minmax": "MinMax"}
# minmax is the default: on the clothing MSFAN (first conv and heads kept in fp32) it agreed with fp32
# on 99.7 % of validation images, percentile (99.999) on 98.2 %, entropy on 98.5 % (2048 bins: 89.7 %).
DEFAULT_METHOD = "minmax"
FORMATS = ("qdq", "qoperator")
ACTIVATIONS = {"int8": "QInt8", "uint8": "QUInt8"}
DEFAULT_PERCENTILE = 99.999
WEIGHT_BITS = (8, 7)
ENTROPY_BINS = 128  # ORT's default; 512 / 2048 bins clipped more and agreed less on MSFAN


def _quantization():
    """onnxruntime.quantization, with the calibration cache API (quantize_static(...,
    calibration_cache_path=...), save_tensors_data: onnxruntime 1.32 has them, older ones may not)."""
    try:
        from onnxruntime import quantization
        from onnxruntime.quantization import calibrate
    except ImportError as e:
        raise BackendUnavailable(f"int8 quantization needs onnxruntime ({e}); pip install onnxruntime") from e
    if not hasattr(calibrate, "save_tensors_data") or \
            "calibration_cache_path" not in inspect.signature(quantization.quantize_static).parameters:
        import onnxruntime

        raise BackendUnavailable(
            f"onnxruntime {onnxruntime.__version__} lacks the calibration-cache API of quantize_static "
            "that int8 quantization uses; pip install -U 'onnxruntime>=1.32'")
    return quantization


def check_method(method: str) -> str:
    m = str(method).lower()
    if m not in METHODS:
        raise BadInput(f"calibration method {method!r} is not one of {', '.join(METHODS)}")
    return m


def calib_settings(method: str, percentile: float = DEFAULT_PERCENTILE) -> dict:
    """The calibrator options for ``method`` (recorded in the cache key)."""
    method = check_method(method)
    if method == "percentile":
        if not 50.0 < float(percentile) <= 100.0:
            raise BadInput(f"percentile {percentile} must lie in (50, 100]")
        return {"percentile": float(percentile), "num_bins": 2048}
    if method == "entropy":
        return {"num_bins": ENTROPY_BINS, "num_quantized_bins": 128}
    return {}


@contextlib.contextmanager
def _quiet():
    """ORT's quantizer prints progress lines and logs warnings; the CLI shows its own progress bar."""
    import onnxruntime as ort

    logger = logging.getLogger()
    level = logger.level
    ort.set_default_logger_severity(3)
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)
        ort.set_default_logger_severity(2)


def prepare(src: str | Path, dst: str | Path) -> Path:
    """ONNX shape inference + ORT's quantization pre-processing marker (``quant_pre_process``).

    The graph is not re-optimised (the export already simplified it), so node names stay those of the
    source model and ``--keep-fp32`` patterns resolve the same way on both.
    """
    _quantization()  # BackendUnavailable when onnxruntime is missing
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        with _quiet():
            quant_pre_process(str(src), str(dst), skip_optimization=True, skip_symbolic_shape=True)
    except Exception as e:  # noqa: BLE001 - pre-processing is an aid; quantization works without it
        logging.getLogger(__name__).debug("quant_pre_process failed (%s); using the model as is", e)
        shutil.copyfile(src, dst)
    return Path(dst)


def calibrate(model_path: str | Path, images: CalibrationImages, method: str = DEFAULT_METHOD,
              percentile: float = DEFAULT_PERCENTILE, progress: bool = True) -> dict:
    """Activation ranges of ``model_path`` over ``images`` -> JSON-able ORT TensorsData dict.

    Collects one batch at a time (the histogram methods would otherwise keep every intermediate
    tensor of every image in memory). Nodes with an empty output (a schema without attributes) are
    left out of calibration.
    """
    import onnx

    q = _quantization()
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    method = check_method(method)
    model = onnx.load(str(model_path))
    weights = {init.name for init in model.graph.initializer}
    images.extra_inputs = {i.name: tuple(d.dim_value for d in i.type.tensor_type.shape.dim[1:])
                           for i in model.graph.input
                           if i.name != images.input_name and i.name not in weights}
    dead = set(empty_nodes(model.graph))
    dead_out = {o for n in model.graph.node if n.name in dead for o in n.output}
    for node in [n for n in model.graph.node if n.name in dead]:
        model.graph.node.remove(node)
    for out in [o for o in model.graph.output if o.name in dead_out]:
        model.graph.output.remove(out)
    ops = sorted(set(QLinearOpsRegistry) | set(QDQRegistry))
    bar = _bar(images.num_images, f"calibrating ({method})", progress)
    with tempfile.TemporaryDirectory(prefix="edgefashion-calib-") as tmp, _quiet():
        calib_model = Path(tmp) / "calib.onnx"
        onnx.save(model, str(calib_model))
        calibrator = create_calibrator(
            calib_model, ops, augmented_model_path=str(Path(tmp) / "augmented.onnx"),
            calibrate_method=getattr(q.CalibrationMethod, METHODS[method]),
            extra_options=calib_settings(method, percentile),
        )
        reader = images.ort_reader(bar)
        try:
            for b in range(len(images)):
                reader.set_range(b, b + 1)
                calibrator.collect_data(reader)
            ranges = calibrator.compute_data()
        finally:
            if bar is not None:
                bar.close()
        out = Path(tmp) / "ranges.json"
        save_tensors_data(ranges, out)
        return json.loads(out.read_text())


def quantize(model_path: str | Path, dst: str | Path, ranges: dict, method: str,
             exclude: Sequence[str] = (), quant_format: str = "qdq", per_channel: bool = True,
             activations: str = "int8", weight_bits: int = 8) -> Path:
    """Write the int8 model of ``model_path`` (pre-processed) to ``dst`` using cached ``ranges``.

    quant_format "qdq" (the artifact: what TensorRT builds and ORT runs) or "qoperator" (QLinearConv
    etc.: ONNX Runtime CPU only). activations "int8" (symmetric, zero point 0: TensorRT) or "uint8"
    (asymmetric: ONNX Runtime's preferred CPU layout on x86 without VNNI; not for TensorRT).
    weight_bits 7 stores the int8 weights in [-64, 64] (ORT's ``reduce_range``): a CPU without VNNI
    sums u8 x s8 products in pairs into int16 (``vpmaddubsw``), which saturates with 8-bit weights
    (OpenVINO on AVX2: ``WEIGHT_BITS``). Biases stay fp32 in "qdq" (TensorRT's parser refuses a
    DequantizeLinear of int32 bias). Empty
    nodes and the nodes of the "cam" output alone (graph.py ``output_only_nodes``) stay fp32.
    """
    import onnx

    q = _quantization()
    if quant_format not in FORMATS:
        raise BadInput(f"int8 format {quant_format!r} must be one of {', '.join(FORMATS)}")
    if activations not in ACTIVATIONS:
        raise BadInput(f"activations {activations!r} must be one of {', '.join(ACTIVATIONS)}")
    if weight_bits not in WEIGHT_BITS:
        raise BadInput(f"weight_bits {weight_bits!r} must be 8 or 7 (7: CPUs without VNNI)")
    model = onnx.load(str(model_path))
    exclude = list(dict.fromkeys([*empty_nodes(model.graph), *output_only_nodes(model.graph), *exclude]))
    fmt = q.QuantFormat.QDQ if quant_format == "qdq" else q.QuantFormat.QOperator
    with tempfile.TemporaryDirectory(prefix="edgefashion-quant-") as tmp, _quiet():
        cache = Path(tmp) / "ranges.json"
        cache.write_text(json.dumps(ranges))
        try:
            q.quantize_static(
                str(model_path), str(dst), None, quant_format=fmt, per_channel=per_channel,
                reduce_range=weight_bits == 7,
                activation_type=getattr(q.QuantType, ACTIVATIONS[activations]),
                weight_type=q.QuantType.QInt8, nodes_to_exclude=exclude,
                calibrate_method=getattr(q.CalibrationMethod, METHODS[check_method(method)]),
                extra_options={"ActivationSymmetric": activations == "int8", "WeightSymmetric": True,
                               "QuantizeBias": quant_format != "qdq"},
                calibration_cache_path=str(cache),
            )
        except Exception as e:
            with contextlib.suppress(OSError):
                os.unlink(dst)
            raise ExportError(f"int8 quantization of {str(model_path)!r} failed: "
                              f"{type(e).__name__}: {e}") from e
    return Path(dst)


def _bar(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="img", leave=False)
