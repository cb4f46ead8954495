// Sigmoid spatial gating (a 1x1 conv to one channel): the torch-free launchers (CPU and CUDA).
//   g = sigmoid(sum_c w_c x_c + b) per pixel;  y = x * g
#pragma once

#include "common.h"

namespace edgefashion {
namespace cpu {

// Runs on an OpenMP team of `num_threads` (<= 0: the OpenMP default). Returns a Status.
int spatial_gate(const SpatialGateArgs& args, int num_threads);

}  // namespace cpu

namespace cuda {

// Enqueues the kernel on `stream` (a cudaStream_t). All pointers are device pointers; no workspace.
// Returns a Status (kCudaErrorBase + cudaError_t on a CUDA failure). Defined only in CUDA builds.
int spatial_gate(const SpatialGateArgs& args, void* stream);

}  // namespace cuda
}  // namespace edgefashion
