// Shared by the edgefashion TensorRT plugins (IPluginV3, TensorRT >= 10): namespace, version, logging,
// type mapping, plugin-field parsing, and the capability plumbing every plugin repeats.
#pragma once

#include <NvInferVersion.h>
// IPluginV3, IPluginCreatorV3One and TensorRTPhase exist from TensorRT 10 on. CMakeLists.txt skips these
// sources for older headers (JetPack 5: 8.5) and says why; this stops any other build with a clear message.
#if NV_TENSORRT_MAJOR < 10
#error "edgefashion's TensorRT plugins are IPluginV3 plugins and need TensorRT >= 10 headers"
#endif

#include <NvInfer.h>
#include <NvInferRuntime.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "kernels/common.h"

namespace edgefashion {
namespace trt {

constexpr char kPluginNamespace[] = "edgefashion";
constexpr char kPluginVersion[] = "1";

// Logs through the logger TensorRT handed to setLoggerFinder (silently drops messages before that).
void log(nvinfer1::ILogger::Severity severity, const std::string& message) noexcept;
inline void log_error(const std::string& message) noexcept { log(nvinfer1::ILogger::Severity::kERROR, message); }

// The kernels' element type for a TensorRT type; false for types the kernels do not take.
inline bool to_dtype(nvinfer1::DataType t, DType* out) {
  if (t == nvinfer1::DataType::kFLOAT) { *out = DType::kFloat32; return true; }
  if (t == nvinfer1::DataType::kHALF) { *out = DType::kFloat16; return true; }
  return false;
}

inline bool float_type(nvinfer1::DataType t) {
  return t == nvinfer1::DataType::kFLOAT || t == nvinfer1::DataType::kHALF;
}

inline int64_t volume(const nvinfer1::Dims& d, int from, int to) {
  int64_t v = 1;
  for (int i = from; i < to && i < d.nbDims; ++i) v *= d.d[i];
  return v;
}

// An integer plugin field (the ONNX parser passes ONNX ints as INT32 or INT64), or `fallback`.
inline int64_t int_field(const nvinfer1::PluginFieldCollection* fc, const char* name, int64_t fallback) {
  if (fc == nullptr) return fallback;
  for (int32_t i = 0; i < fc->nbFields; ++i) {
    const nvinfer1::PluginField& f = fc->fields[i];
    if (f.name == nullptr || std::strcmp(f.name, name) != 0 || f.data == nullptr || f.length < 1) continue;
    if (f.type == nvinfer1::PluginFieldType::kINT32) return *static_cast<const int32_t*>(f.data);
    if (f.type == nvinfer1::PluginFieldType::kINT64) return *static_cast<const int64_t*>(f.data);
    if (f.type == nvinfer1::PluginFieldType::kINT8) return *static_cast<const int8_t*>(f.data);
  }
  return fallback;
}

// The part of IPluginV3 that is the same for every plugin here: identity and capabilities.
template <typename Derived>
class PluginBase : public nvinfer1::IPluginV3,
                   public nvinfer1::IPluginV3OneCore,
                   public nvinfer1::IPluginV3OneBuild,
                   public nvinfer1::IPluginV3OneRuntime {
 public:
  nvinfer1::IPluginCapability* getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept override {
    switch (type) {
      case nvinfer1::PluginCapabilityType::kBUILD: return static_cast<nvinfer1::IPluginV3OneBuild*>(this);
      case nvinfer1::PluginCapabilityType::kRUNTIME: return static_cast<nvinfer1::IPluginV3OneRuntime*>(this);
      case nvinfer1::PluginCapabilityType::kCORE: return static_cast<nvinfer1::IPluginV3OneCore*>(this);
    }
    return nullptr;
  }
  nvinfer1::IPluginV3* clone() noexcept override {
    try {
      return new Derived(static_cast<const Derived&>(*this));
    } catch (...) {
      log_error(std::string(Derived::kName) + ": out of memory in clone()");
      return nullptr;
    }
  }
  const char* getPluginName() const noexcept override { return Derived::kName; }
  const char* getPluginVersion() const noexcept override { return kPluginVersion; }
  const char* getPluginNamespace() const noexcept override { return kPluginNamespace; }
  nvinfer1::IPluginV3* attachToContext(nvinfer1::IPluginResourceContext*) noexcept override { return clone(); }
  int32_t configurePlugin(const nvinfer1::DynamicPluginTensorDesc*, int32_t, const nvinfer1::DynamicPluginTensorDesc*,
                          int32_t) noexcept override {
    return 0;
  }
  int32_t onShapeChange(const nvinfer1::PluginTensorDesc*, int32_t, const nvinfer1::PluginTensorDesc*,
                        int32_t) noexcept override {
    return 0;
  }
};

// The part of IPluginCreatorV3One that is the same for every creator here.
template <typename Plugin>
class CreatorBase : public nvinfer1::IPluginCreatorV3One {
 public:
  const char* getPluginName() const noexcept override { return Plugin::kName; }
  const char* getPluginVersion() const noexcept override { return kPluginVersion; }
  const char* getPluginNamespace() const noexcept override { return kPluginNamespace; }
};

}  // namespace trt
}  // namespace edgefashion
