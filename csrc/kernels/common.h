// Shared by every edgefashion kernel: element types, layouts, status codes. No torch, no CUDA headers.
#pragma once

#include <cstdint>

namespace edgefashion {

// Element type of the activations (x, t, y, g) or of the weights (w1, b1, w2, b2, w, b).
// Arithmetic is always float32; fp16 is only a storage type.
enum class DType : int { kFloat32 = 0, kFloat16 = 1 };

// Memory layout of the 4-d activations. kNCHW: (N, C, H, W) contiguous; kNHWC: (N, H, W, C) contiguous
// (PyTorch channels_last). The gate map g (N, 1, H, W) is the same bytes in both layouts.
enum class Layout : int { kNCHW = 0, kNHWC = 1 };

// Launcher results. kOk = 0; CUDA failures return 1000 + the cudaError_t value.
enum Status : int {
  kOk = 0,
  kInvalidArgument = 1,
  kUnsupported = 2,
  kCudaErrorBase = 1000,
};

// Human-readable text for a Status (CUDA codes are decoded when the CUDA part is built).
const char* status_string(int status);

// Arguments of channel attention:  a = mean_hw(x) [+ max_hw(x)];  z = relu(W1 a + b1);
// s = sigmoid(W2 z + b2);  y = t * s.   x, t, y: (N, C, HW) in `layout`; t == nullptr means t = x.
// w1: (hidden, C), b1: (hidden,), w2: (C, hidden), b2: (C,), all contiguous, of type `wtype`.
struct ChannelAttentionArgs {
  const void* x = nullptr;
  const void* t = nullptr;
  void* y = nullptr;
  const void* w1 = nullptr;
  const void* b1 = nullptr;
  const void* w2 = nullptr;
  const void* b2 = nullptr;
  int64_t n = 0, c = 0, hw = 0, hidden = 0;
  DType dtype = DType::kFloat32;
  DType wtype = DType::kFloat32;
  Layout layout = Layout::kNCHW;
  bool use_max = true;
};

// Arguments of spatial gating:  g = sigmoid(sum_c w_c x_c + b) per pixel;  y = x * g.
// x, y: (N, C, HW) in `layout`; g: (N, HW); w: (C,); b: (1,), of type `wtype`.
struct SpatialGateArgs {
  const void* x = nullptr;
  void* y = nullptr;
  void* g = nullptr;
  const void* w = nullptr;
  const void* b = nullptr;
  int64_t n = 0, c = 0, hw = 0;
  DType dtype = DType::kFloat32;
  DType wtype = DType::kFloat32;
  Layout layout = Layout::kNCHW;
};

// Shape checks shared by the CPU and CUDA launchers (kOk or kInvalidArgument).
int check_args(const ChannelAttentionArgs& a);
int check_args(const SpatialGateArgs& a);

}  // namespace edgefashion
