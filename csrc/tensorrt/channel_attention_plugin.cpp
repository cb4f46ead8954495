// TensorRT plugin "ChannelAttention" (namespace "edgefashion", version "1"): the ONNX node
// edgefashion::ChannelAttention(x, w1, b1, w2, b2[, t]) -> y with attribute use_max. enqueue calls the
// same CUDA launcher as edgefashion._C. Linear (NCHW) float32 / float16 activations; weights float32 or
// float16 (one type for all four).
#include <exception>
#include <string>
#include <vector>

#include "kernels/channel_attention.h"
#include "plugin_common.h"

namespace edgefashion {
namespace trt {
namespace {

using nvinfer1::DataType;
using nvinfer1::DimsExprs;
using nvinfer1::DynamicPluginTensorDesc;
using nvinfer1::PluginTensorDesc;

class ChannelAttentionPlugin final : public PluginBase<ChannelAttentionPlugin> {
 public:
  static constexpr char kName[] = "ChannelAttention";

  ChannelAttentionPlugin(bool use_max, bool has_t) : use_max_(use_max ? 1 : 0), has_t_(has_t ? 1 : 0) {}
  ChannelAttentionPlugin(const ChannelAttentionPlugin& other) : use_max_(other.use_max_), has_t_(other.has_t_) {}

  int32_t getNbOutputs() const noexcept override { return 1; }

  int32_t getOutputDataTypes(DataType* out, int32_t nb_outputs, const DataType* in,
                             int32_t nb_inputs) const noexcept override {
    if (nb_outputs != 1 || nb_inputs < 5) return -1;
    out[0] = in[0];
    return 0;
  }

  int32_t getOutputShapes(const DimsExprs* in, int32_t nb_inputs, const DimsExprs*, int32_t, DimsExprs* out,
                          int32_t nb_outputs, nvinfer1::IExprBuilder&) noexcept override {
    if (nb_inputs != 5 && nb_inputs != 6) {
      log_error("ChannelAttention takes 5 inputs (x, w1, b1, w2, b2) or 6 (+ t), got " + std::to_string(nb_inputs));
      return -1;
    }
    if (nb_outputs != 1 || in[0].nbDims != 4) {
      log_error("ChannelAttention needs a 4-d input x (N, C, H, W)");
      return -1;
    }
    out[0] = in[0];
    return 0;
  }

  // x and t: float32 / float16, linear; weights: one float type; y: x's type.
  bool supportsFormatCombination(int32_t pos, const DynamicPluginTensorDesc* io, int32_t nb_inputs,
                                 int32_t nb_outputs) noexcept override {
    const PluginTensorDesc& d = io[pos].desc;
    if (d.format != nvinfer1::TensorFormat::kLINEAR || !float_type(d.type)) return false;
    if (pos == 0 || pos == 1) return true;
    if (pos >= 2 && pos <= 4) return d.type == io[1].desc.type;
    (void)nb_outputs;
    return d.type == io[0].desc.type;  // t (when present) and y
  }

  size_t getWorkspaceSize(const DynamicPluginTensorDesc* in, int32_t nb_inputs, const DynamicPluginTensorDesc*,
                          int32_t) const noexcept override {
    if (nb_inputs < 5) return 0;
    ChannelAttentionArgs a;
    a.n = in[0].max.d[0];
    a.c = in[0].max.d[1];
    a.hw = volume(in[0].max, 2, 4);
    a.hidden = in[1].max.d[0];
    return cuda::channel_attention_workspace_size(a);
  }

  int32_t enqueue(const PluginTensorDesc* in, const PluginTensorDesc* out, const void* const* inputs,
                  void* const* outputs, void* workspace, cudaStream_t stream) noexcept override {
    ChannelAttentionArgs a;
    if (!to_dtype(in[0].type, &a.dtype) || !to_dtype(in[1].type, &a.wtype)) return -1;
    a.n = in[0].dims.d[0];
    a.c = in[0].dims.d[1];
    a.hw = volume(in[0].dims, 2, 4);
    a.hidden = in[1].dims.d[0];
    a.x = inputs[0];
    a.w1 = inputs[1];
    a.b1 = inputs[2];
    a.w2 = inputs[3];
    a.b2 = inputs[4];
    a.t = has_t_ ? inputs[5] : nullptr;
    a.y = outputs[0];
    a.use_max = use_max_ != 0;
    (void)out;
    const int status = cuda::channel_attention(a, workspace, cuda::channel_attention_workspace_size(a), stream);
    if (status != kOk) log_error(std::string("ChannelAttention enqueue failed: ") + status_string(status));
    return status == kOk ? 0 : -1;
  }

  int32_t configurePlugin(const DynamicPluginTensorDesc*, int32_t nb_inputs, const DynamicPluginTensorDesc*,
                          int32_t) noexcept override {
    has_t_ = nb_inputs == 6 ? 1 : 0;
    return 0;
  }

  int32_t onShapeChange(const PluginTensorDesc* in, int32_t nb_inputs, const PluginTensorDesc*,
                        int32_t) noexcept override {
    has_t_ = nb_inputs == 6 ? 1 : 0;
    return in[0].dims.nbDims == 4 ? 0 : -1;
  }

  nvinfer1::PluginFieldCollection const* getFieldsToSerialize() noexcept override {
    fields_.clear();
    fields_.emplace_back("use_max", &use_max_, nvinfer1::PluginFieldType::kINT32, 1);
    fields_.emplace_back("has_t", &has_t_, nvinfer1::PluginFieldType::kINT32, 1);
    collection_.nbFields = static_cast<int32_t>(fields_.size());
    collection_.fields = fields_.data();
    return &collection_;
  }

 private:
  int32_t use_max_ = 1;
  int32_t has_t_ = 0;  // 6 inputs; known from configurePlugin / onShapeChange, serialized with the engine
  std::vector<nvinfer1::PluginField> fields_;
  nvinfer1::PluginFieldCollection collection_{};
};

class ChannelAttentionCreator final : public CreatorBase<ChannelAttentionPlugin> {
 public:
  ChannelAttentionCreator() {
    fields_.emplace_back("use_max", nullptr, nvinfer1::PluginFieldType::kINT32, 1);
    collection_.nbFields = static_cast<int32_t>(fields_.size());
    collection_.fields = fields_.data();
  }

  nvinfer1::PluginFieldCollection const* getFieldNames() noexcept override { return &collection_; }

  nvinfer1::IPluginV3* createPlugin(const char*, const nvinfer1::PluginFieldCollection* fc,
                                    nvinfer1::TensorRTPhase) noexcept override {
    try {
      return new ChannelAttentionPlugin(int_field(fc, "use_max", 1) != 0, int_field(fc, "has_t", 0) != 0);
    } catch (const std::exception& e) {
      log_error(std::string("ChannelAttention createPlugin: ") + e.what());
      return nullptr;
    }
  }

 private:
  std::vector<nvinfer1::PluginField> fields_;
  nvinfer1::PluginFieldCollection collection_{};
};

}  // namespace

nvinfer1::IPluginCreatorInterface* channel_attention_creator() {
  static ChannelAttentionCreator creator;
  return &creator;
}

}  // namespace trt
}  // namespace edgefashion
