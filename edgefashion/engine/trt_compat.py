"""Every TensorRT name edgefashion uses, per major version: the builder's and the backend's.

The list lives with the builder, the one layer that sees both its own code and the runtime's
(``runtime.tensorrt``, ``runtime.backends.tensorrt``). tests/engine/test_trt_api_surface.py checks every
name against NVIDIA's real Python bindings of that major, and that the code uses no TensorRT attribute
missing from here. Which TensorRT is installed and what it can do is ``runtime.tensorrt.compat``.
"""
from __future__ import annotations

from edgefashion.errors import BadInput

# "Class.attr" names: both parts must exist in the bindings. Grouped by where they are used; the per-major
# lists below say which groups run on which TensorRT.
_COMMON = [
    "__version__", "Logger", "ILogger.Severity", "Logger.ERROR", "Logger.WARNING", "Logger.INFO",
    "Logger.VERBOSE", "Builder", "Runtime", "OnnxParser", "ICudaEngine", "IPluginRegistry", "ParserError",
    "init_libnvinfer_plugins", "get_plugin_registry",
    # builder
    "Builder.create_network", "Builder.create_builder_config", "Builder.create_optimization_profile",
    "Builder.build_serialized_network", "Builder.num_DLA_cores", "NetworkDefinitionCreationFlag",
    "Logger.min_severity", "Runtime.DLA_core",
    "INetworkDefinition.num_inputs", "INetworkDefinition.get_input", "INetworkDefinition.num_outputs",
    "INetworkDefinition.get_output", "ITensor.name", "ITensor.shape", "ITensor.dtype",
    "OnnxParser.parse_from_file", "OnnxParser.num_errors", "OnnxParser.get_error",
    "ParserError.code", "ParserError.desc", "ParserError.node",
    "IBuilderConfig.set_memory_pool_limit", "MemoryPoolType.WORKSPACE", "IBuilderConfig.set_flag",
    "IBuilderConfig.add_optimization_profile", "IOptimizationProfile.set_shape",
    "IBuilderConfig.create_timing_cache", "IBuilderConfig.set_timing_cache",
    "IBuilderConfig.get_timing_cache", "ITimingCache.serialize", "IHostMemory",
    "IBuilderConfig.default_device_type", "IBuilderConfig.DLA_core", "DeviceType.DLA",
    "BuilderFlag", "BuilderFlag.GPU_FALLBACK",
    # runtime
    "Runtime.deserialize_cuda_engine", "ICudaEngine.create_execution_context",
    "ICudaEngine.num_optimization_profiles", "IExecutionContext", "DataType",
    "DataType.FLOAT", "DataType.HALF", "DataType.INT8", "DataType.INT32", "DataType.BOOL",
    "DataType.UINT8",
]
_NAMED_TENSORS = [
    "ICudaEngine.num_io_tensors", "ICudaEngine.get_tensor_name", "ICudaEngine.get_tensor_mode",
    "ICudaEngine.get_tensor_dtype", "ICudaEngine.get_tensor_shape", "ICudaEngine.get_tensor_profile_shape",
    "TensorIOMode.INPUT", "IExecutionContext.set_input_shape", "IExecutionContext.get_tensor_shape",
    "IExecutionContext.set_tensor_address", "IExecutionContext.execute_async_v3",
]
_BINDINGS = [  # TensorRT < 8.5 only (the bindings API); still present in 8.5 / 8.6
    "ICudaEngine.num_bindings", "ICudaEngine.get_binding_name", "ICudaEngine.binding_is_input",
    "ICudaEngine.get_binding_dtype", "ICudaEngine.get_binding_shape", "ICudaEngine.get_profile_shape",
    "IExecutionContext.set_binding_shape", "IExecutionContext.get_binding_shape",
    "IExecutionContext.execute_async_v2",
]
_EXPLICIT_BATCH = ["NetworkDefinitionCreationFlag.EXPLICIT_BATCH"]
_STRONGLY_TYPED = ["NetworkDefinitionCreationFlag.STRONGLY_TYPED"]
_WEAK_TYPING = ["BuilderFlag.FP16", "BuilderFlag.INT8"]
_CALIBRATOR = [
    "IInt8EntropyCalibrator2", "IInt8EntropyCalibrator2.get_batch_size", "IInt8EntropyCalibrator2.get_batch",
    "IInt8EntropyCalibrator2.read_calibration_cache", "IInt8EntropyCalibrator2.write_calibration_cache",
    "IBuilderConfig.int8_calibrator", "IBuilderConfig.set_calibration_profile",
]
_PROGRESS = ["IProgressMonitor", "IProgressMonitor.phase_start", "IProgressMonitor.step_complete",
             "IProgressMonitor.phase_finish", "IBuilderConfig.progress_monitor"]
_LOAD_LIBRARY = ["IPluginRegistry.load_library"]
_PARSER_NODES = ["ParserError.node_name", "ParserError.node_operator"]
_INT64 = ["DataType.INT64"]

TRT_API_USED: dict[str, list[str]] = {
    "8": _COMMON + _NAMED_TENSORS + _BINDINGS + _EXPLICIT_BATCH + _WEAK_TYPING + _CALIBRATOR + _LOAD_LIBRARY,
    "10": _COMMON + _NAMED_TENSORS + _STRONGLY_TYPED + _WEAK_TYPING + _CALIBRATOR + _PROGRESS
    + _LOAD_LIBRARY + _PARSER_NODES + _INT64,
    "11": _COMMON + _NAMED_TENSORS + _PROGRESS + _LOAD_LIBRARY + _PARSER_NODES + _INT64,
}
# What 8.5 has of the "8" list: everything but IPluginRegistry.load_library (8.6+; 8.5 uses ctypes.CDLL).
TRT_API_USED_8_5 = [n for n in TRT_API_USED["8"] if n not in _LOAD_LIBRARY]
# What the backend uses to run an engine on TensorRT 8.2 / 8.4 (bindings API; no building there).
TRT_API_RUNTIME_LEGACY = [
    "__version__", "Logger", "Logger.WARNING", "Logger.min_severity", "Runtime", "Runtime.DLA_core", "ICudaEngine",
    "init_libnvinfer_plugins", "Runtime.deserialize_cuda_engine", "ICudaEngine.create_execution_context",
    "ICudaEngine.num_optimization_profiles", "DataType.FLOAT", "DataType.HALF", *_BINDINGS,
]
# Names that must be ABSENT from a major's bindings (each in its own class), so that the feature table above
# stays honest.
TRT_API_REMOVED: dict[str, list[str]] = {
    "8": ["IProgressMonitor", "NetworkDefinitionCreationFlag.STRONGLY_TYPED", "ParserError.node_name",
          "ParserError.node_operator"],
    "10": ["ICudaEngine.num_bindings", "IExecutionContext.execute_async_v2",
           "IExecutionContext.get_binding_shape"],
    "11": ["IInt8EntropyCalibrator2", "NetworkDefinitionCreationFlag.EXPLICIT_BATCH", "IBuilderConfig.int8_calibrator",
           "BuilderFlag.FP16", "BuilderFlag.INT8"],
}


def api_names(major: int | str) -> list[str]:
    """The dotted TensorRT names used on a major version (8, 10 or 11)."""
    key = str(major)
    if key not in TRT_API_USED:
        raise BadInput(f"TensorRT major version {major!r} is not supported; supported: "
                       f"{', '.join(TRT_API_USED)}")
    return list(TRT_API_USED[key])
