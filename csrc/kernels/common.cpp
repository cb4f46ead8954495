// Status strings and the shape checks that the CPU and CUDA launchers share.
#include "common.h"

namespace edgefashion {

#ifdef EDGEFASHION_WITH_CUDA
const char* cuda_error_text(int cuda_error);  // common_cuda.cu
#endif

const char* status_string(int status) {
  switch (status) {
    case kOk: return "ok";
    case kInvalidArgument: return "invalid argument (null pointer or negative size)";
    case kUnsupported: return "unsupported combination of dtype / layout / size";
    default: break;
  }
#ifdef EDGEFASHION_WITH_CUDA
  if (status >= kCudaErrorBase) return cuda_error_text(status - kCudaErrorBase);
#endif
  return "unknown edgefashion status";
}

static bool bad_dtype(DType d) { return d != DType::kFloat32 && d != DType::kFloat16; }
static bool bad_layout(Layout l) { return l != Layout::kNCHW && l != Layout::kNHWC; }

int check_args(const ChannelAttentionArgs& a) {
  if (a.n < 0 || a.c < 0 || a.hw < 0 || a.hidden < 0) return kInvalidArgument;
  if (bad_dtype(a.dtype) || bad_dtype(a.wtype) || bad_layout(a.layout)) return kUnsupported;
  if (a.n * a.c * a.hw == 0) return kOk;  // nothing to read or write
  if (a.hidden == 0) return kInvalidArgument;
  if (!a.x || !a.y || !a.w1 || !a.b1 || !a.w2 || !a.b2) return kInvalidArgument;
  return kOk;
}

int check_args(const SpatialGateArgs& a) {
  if (a.n < 0 || a.c < 0 || a.hw < 0) return kInvalidArgument;
  if (bad_dtype(a.dtype) || bad_dtype(a.wtype) || bad_layout(a.layout)) return kUnsupported;
  if (a.n * a.hw == 0) return kOk;
  if (!a.g || !a.b || (a.c > 0 && (!a.x || !a.y || !a.w))) return kInvalidArgument;
  return kOk;
}

}  // namespace edgefashion
