// TensorRT plugin "SpatialGate" (namespace "edgefashion", version "1"): the ONNX node
// edgefashion::SpatialGate(x, w, b) -> (y, g). enqueue calls the same CUDA launcher as edgefashion._C.
// Linear (NCHW) float32 / float16 activations; w, b float32 or float16.
#include <exception>
#include <string>
#include <vector>

#include "kernels/spatial_gate.h"
#include "plugin_common.h"

namespace edgefashion {
namespace trt {
namespace {

using nvinfer1::DataType;
using nvinfer1::DimsExprs;
using nvinfer1::DynamicPluginTensorDesc;
using nvinfer1::PluginTensorDesc;

class SpatialGatePlugin final : public PluginBase<SpatialGatePlugin> {
 public:
  static constexpr char kName[] = "SpatialGate";

  SpatialGatePlugin() = default;
  SpatialGatePlugin(const SpatialGatePlugin&) {}

  int32_t getNbOutputs() const noexcept override { return 2; }

  int32_t getOutputDataTypes(DataType* out, int32_t nb_outputs, const DataType* in,
                             int32_t nb_inputs) const noexcept override {
    if (nb_outputs != 2 || nb_inputs != 3) return -1;
    out[0] = out[1] = in[0];
    return 0;
  }

  // y: the shape of x; g: (N, 1, H, W).
  int32_t getOutputShapes(const DimsExprs* in, int32_t nb_inputs, const DimsExprs*, int32_t, DimsExprs* out,
                          int32_t nb_outputs, nvinfer1::IExprBuilder& builder) noexcept override {
    if (nb_inputs != 3 || nb_outputs != 2 || in[0].nbDims != 4) {
      log_error("SpatialGate takes (x (N, C, H, W), w (C,), b (1,)) and gives (y, g)");
      return -1;
    }
    out[0] = in[0];
    out[1] = in[0];
    out[1].d[1] = builder.constant(1);
    return 0;
  }

  bool supportsFormatCombination(int32_t pos, const DynamicPluginTensorDesc* io, int32_t, int32_t) noexcept override {
    const PluginTensorDesc& d = io[pos].desc;
    if (d.format != nvinfer1::TensorFormat::kLINEAR || !float_type(d.type)) return false;
    if (pos == 0 || pos == 1) return true;
    if (pos == 2) return d.type == io[1].desc.type;  // b like w
    return d.type == io[0].desc.type;                // y, g like x
  }

  int32_t enqueue(const PluginTensorDesc* in, const PluginTensorDesc*, const void* const* inputs,
                  void* const* outputs, void*, cudaStream_t stream) noexcept override {
    SpatialGateArgs a;
    if (!to_dtype(in[0].type, &a.dtype) || !to_dtype(in[1].type, &a.wtype)) return -1;
    a.n = in[0].dims.d[0];
    a.c = in[0].dims.d[1];
    a.hw = volume(in[0].dims, 2, 4);
    a.x = inputs[0];
    a.w = inputs[1];
    a.b = inputs[2];
    a.y = outputs[0];
    a.g = outputs[1];
    const int status = cuda::spatial_gate(a, stream);
    if (status != kOk) log_error(std::string("SpatialGate enqueue failed: ") + status_string(status));
    return status == kOk ? 0 : -1;
  }

  nvinfer1::PluginFieldCollection const* getFieldsToSerialize() noexcept override {
    collection_.nbFields = 0;
    collection_.fields = nullptr;
    return &collection_;
  }

 private:
  nvinfer1::PluginFieldCollection collection_{};
};

class SpatialGateCreator final : public CreatorBase<SpatialGatePlugin> {
 public:
  nvinfer1::PluginFieldCollection const* getFieldNames() noexcept override {
    collection_.nbFields = 0;
    collection_.fields = nullptr;
    return &collection_;
  }

  nvinfer1::IPluginV3* createPlugin(const char*, const nvinfer1::PluginFieldCollection*,
                                    nvinfer1::TensorRTPhase) noexcept override {
    try {
      return new SpatialGatePlugin();
    } catch (const std::exception& e) {
      log_error(std::string("SpatialGate createPlugin: ") + e.what());
      return nullptr;
    }
  }

 private:
  nvinfer1::PluginFieldCollection collection_{};
};

}  // namespace

nvinfer1::IPluginCreatorInterface* spatial_gate_creator() {
  static SpatialGateCreator creator;
  return &creator;
}

}  // namespace trt
}  // namespace edgefashion
