// Device helpers shared by the CUDA kernels: fp16/fp32 loads as float, 16-byte packs, warp reductions.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "common.h"

namespace edgefashion {
namespace cuda {

__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(__half v) { return __half2float(v); }

template <typename T>
__device__ __forceinline__ T from_f(float v);
template <>
__device__ __forceinline__ float from_f<float>(float v) { return v; }
template <>
__device__ __forceinline__ __half from_f<__half>(float v) { return __float2half_rn(v); }

// V consecutive elements moved as one access (16 bytes when V = 16 / sizeof(T)).
template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

// The machine word of a pack's size: the accesses go through it so that they stay one 16 / 8 / 4 / 2-byte
// instruction (a plain struct assignment was split into 32-bit stores).
template <int BYTES> struct Word;
template <> struct Word<16> { using type = int4; };
template <> struct Word<8> { using type = int2; };
template <> struct Word<4> { using type = int; };
template <> struct Word<2> { using type = short; };

template <typename T, int V>
__device__ __forceinline__ Pack<T, V> load(const T* p) {
  using W = typename Word<sizeof(Pack<T, V>)>::type;
  const W bits = *reinterpret_cast<const W*>(p);
  Pack<T, V> pack;
  memcpy(&pack, &bits, sizeof(pack));
  return pack;
}

template <typename T, int V>
__device__ __forceinline__ void store(T* p, const Pack<T, V>& pack) {
  using W = typename Word<sizeof(Pack<T, V>)>::type;
  W bits;
  memcpy(&bits, &pack, sizeof(bits));
  *reinterpret_cast<W*>(p) = bits;
}

// The two 16-byte packs as one PTX vector store: the plain assignment was lowered to four 32-bit
// stores in some kernels (seen in the PTX of gate_nchw); __stwb gives a .STRONG.SM store instead.
template <>
__device__ __forceinline__ void store<float, 4>(float* p, const Pack<float, 4>& pack) {
  asm volatile("st.global.v4.f32 [%0], {%1, %2, %3, %4};" ::"l"(p), "f"(pack.v[0]), "f"(pack.v[1]),
               "f"(pack.v[2]), "f"(pack.v[3])
               : "memory");
}

__device__ __forceinline__ unsigned pair(__half lo, __half hi) {
  return static_cast<unsigned>(__half_as_ushort(lo)) | (static_cast<unsigned>(__half_as_ushort(hi)) << 16);
}

template <>
__device__ __forceinline__ void store<__half, 8>(__half* p, const Pack<__half, 8>& pack) {
  asm volatile("st.global.v4.u32 [%0], {%1, %2, %3, %4};" ::"l"(p), "r"(pair(pack.v[0], pack.v[1])),
               "r"(pair(pack.v[2], pack.v[3])), "r"(pair(pack.v[4], pack.v[5])), "r"(pair(pack.v[6], pack.v[7]))
               : "memory");
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

__device__ __forceinline__ float sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }

// 16-byte vectors are used when every row starts 16-byte aligned.
inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

inline int to_status(cudaError_t e) { return e == cudaSuccess ? kOk : kCudaErrorBase + static_cast<int>(e); }

// Multiprocessor count of the current device (cached per device).
int sm_count();

}  // namespace cuda
}  // namespace edgefashion
