// GAP+GMP channel attention: the torch-free launchers (CPU and CUDA) that every caller shares.
//   a = mean_hw(x) [+ max_hw(x)];  z = relu(W1 a + b1);  s = sigmoid(W2 z + b2);  y = t * s
#pragma once

#include <cstddef>

#include "common.h"

namespace edgefashion {
namespace cpu {

// Runs on the calling thread plus an OpenMP team of `num_threads` (<= 0: the OpenMP default).
// Returns a Status.
int channel_attention(const ChannelAttentionArgs& args, int num_threads);

}  // namespace cpu

namespace cuda {

// Bytes of device scratch memory that channel_attention needs for these shapes (0 for empty tensors).
size_t channel_attention_workspace_size(const ChannelAttentionArgs& args);

// Enqueues the kernels on `stream` (a cudaStream_t; nullptr = the legacy default stream).
// All pointers are device pointers; `workspace` holds at least channel_attention_workspace_size bytes.
// Returns a Status (kCudaErrorBase + cudaError_t on a CUDA failure). Defined only in CUDA builds.
int channel_attention(const ChannelAttentionArgs& args, void* workspace, size_t workspace_bytes,
                      void* stream);

}  // namespace cuda
}  // namespace edgefashion
