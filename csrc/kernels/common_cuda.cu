// CUDA-side helpers that the launchers share: error text, multiprocessor count.
#include <cuda_runtime.h>

#include "cuda_common.cuh"

namespace edgefashion {

const char* cuda_error_text(int cuda_error) {
  return cudaGetErrorString(static_cast<cudaError_t>(cuda_error));
}

namespace cuda {

int sm_count() {
  constexpr int kMaxDevices = 64;
  static int cache[kMaxDevices] = {0};
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= kMaxDevices) return 80;
  if (cache[device] == 0) {
    int count = 0;
    if (cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) count = 80;
    cache[device] = count;  // benign race: every writer stores the same value
  }
  return cache[device];
}

}  // namespace cuda
}  // namespace edgefashion
