// Sigmoid spatial gating on the GPU: one kernel, one read of x, one write of y and g.
// NCHW: a block owns a tile of TP pixels across all C channels; each thread keeps its K channel rows of
//   the tile in registers between the dot product (reduced across the block) and the scale. Channels
//   beyond the register budget (K = 0) are read a second time, from L1/L2.
// NHWC: a warp owns one pixel row of C channels, kept in registers in the same way.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "cuda_common.cuh"
#include "spatial_gate.h"

namespace edgefashion {
namespace cuda {
namespace {

// ---------------------------------------------------------------- NCHW
// LPR lanes along pixels (each V pixels), R = THREADS / LPR channel rows per pass.
template <typename T, typename W, int V, int LPR, int K, int THREADS>
__global__ void __launch_bounds__(THREADS)
gate_nchw(const T* __restrict__ x, T* __restrict__ y, T* __restrict__ g, const W* __restrict__ w,
          const W* __restrict__ b, int64_t c, int64_t hw) {
  constexpr int R = THREADS / LPR, TP = LPR * V, WARPS = THREADS / 32;
  const int col = threadIdx.x % LPR, r = threadIdx.x / LPR;
  const int64_t n = blockIdx.y;
  const int64_t p = static_cast<int64_t>(blockIdx.x) * TP + col * V;
  const bool active = p < hw;  // V divides hw on the vector path, so the whole pack is in range
  const T* xs = x + n * c * hw + p;
  T* ys = y + n * c * hw + p;

  float acc[V];
#pragma unroll
  for (int q = 0; q < V; ++q) acc[q] = 0.f;
  Pack<T, V> cache[K > 0 ? K : 1];
  if (K > 0) {
#pragma unroll
    for (int kk = 0; kk < K; ++kk) {
      const int64_t ch = r + static_cast<int64_t>(kk) * R;
      if (active && ch < c) cache[kk] = load<T, V>(xs + ch * hw);
    }
#pragma unroll
    for (int kk = 0; kk < K; ++kk) {
      const int64_t ch = r + static_cast<int64_t>(kk) * R;
      if (active && ch < c) {
        const float wk = to_f(w[ch]);
#pragma unroll
        for (int q = 0; q < V; ++q) acc[q] += wk * to_f(cache[kk].v[q]);
      }
    }
  } else if (active) {
    for (int64_t ch = r; ch < c; ch += R) {
      const Pack<T, V> pk = load<T, V>(xs + ch * hw);
      const float wk = to_f(w[ch]);
#pragma unroll
      for (int q = 0; q < V; ++q) acc[q] += wk * to_f(pk.v[q]);
    }
  }
  // Reduce over the rows: first inside the warp (lanes with the same col), then across warps.
#pragma unroll
  for (int o = LPR; o < 32; o <<= 1)
#pragma unroll
    for (int q = 0; q < V; ++q) acc[q] += __shfl_xor_sync(0xffffffffu, acc[q], o);
  __shared__ float red[WARPS][TP];
  __shared__ float gate[TP];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane < LPR)
#pragma unroll
    for (int q = 0; q < V; ++q) red[warp][lane * V + q] = acc[q];
  __syncthreads();
  if (threadIdx.x < TP) {
    float s = to_f(b[0]);
#pragma unroll
    for (int wi = 0; wi < WARPS; ++wi) s += red[wi][threadIdx.x];
    const float gv = sigmoid(s);
    gate[threadIdx.x] = gv;
    const int64_t pix = static_cast<int64_t>(blockIdx.x) * TP + threadIdx.x;
    if (pix < hw) g[n * hw + pix] = from_f<T>(gv);
  }
  __syncthreads();
  if (!active) return;
  float gv[V];
#pragma unroll
  for (int q = 0; q < V; ++q) gv[q] = gate[col * V + q];
  if (K > 0) {
#pragma unroll
    for (int kk = 0; kk < K; ++kk) {
      const int64_t ch = r + static_cast<int64_t>(kk) * R;
      if (ch < c) {
        Pack<T, V> pk = cache[kk];
#pragma unroll
        for (int q = 0; q < V; ++q) pk.v[q] = from_f<T>(to_f(pk.v[q]) * gv[q]);
        store<T, V>(ys + ch * hw, pk);
      }
    }
  } else {
    for (int64_t ch = r; ch < c; ch += R) {
      Pack<T, V> pk = load<T, V>(xs + ch * hw);
#pragma unroll
      for (int q = 0; q < V; ++q) pk.v[q] = from_f<T>(to_f(pk.v[q]) * gv[q]);
      store<T, V>(ys + ch * hw, pk);
    }
  }
}

// ---------------------------------------------------------------- NHWC
// One warp per pixel row; lane l holds the V-channel vectors l, l + 32, ... (K of them, or reloads).
template <typename T, typename W, int V, int K>
__global__ void __launch_bounds__(256)
gate_nhwc(const T* __restrict__ x, T* __restrict__ y, T* __restrict__ g, const W* __restrict__ w,
          const W* __restrict__ b, int64_t rows, int64_t c) {
  const int lane = threadIdx.x % 32;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * 8 + threadIdx.x / 32;
  if (row >= rows) return;
  const T* xr = x + row * c;
  T* yr = y + row * c;
  float acc = 0.f;
  Pack<T, V> cache[K > 0 ? K : 1];
  if (K > 0) {
#pragma unroll
    for (int kk = 0; kk < K; ++kk) {
      const int64_t ch = (lane + static_cast<int64_t>(kk) * 32) * V;
      if (ch < c) cache[kk] = load<T, V>(xr + ch);
    }
#pragma unroll
    for (int kk = 0; kk < K; ++kk) {
      const int64_t ch = (lane + static_cast<int64_t>(kk) * 32) * V;
      if (ch < c)
#pragma unroll
        for (int q = 0; q < V; ++q) acc += to_f(w[ch + q]) * to_f(cache[kk].v[q]);
    }
  } else {
    for (int64_t ch = lane * V; ch < c; ch += 32 * V) {
      const Pack<T, V> pk = load<T, V>(xr + ch);
#pragma unroll
      for (int q = 0; q < V; ++q) acc += to_f(w[ch + q]) * to_f(pk.v[q]);
    }
  }
  const float gv = sigmoid(warp_sum(acc) + to_f(b[0]));
  if (lane == 0) g[row] = from_f<T>(gv);
  if (K > 0) {
#pragma unroll
    for (int kk = 0; kk < K; ++kk) {
      const int64_t ch = (lane + static_cast<int64_t>(kk) * 32) * V;
      if (ch < c) {
        Pack<T, V> pk = cache[kk];
#pragma unroll
        for (int q = 0; q < V; ++q) pk.v[q] = from_f<T>(to_f(pk.v[q]) * gv);
        store<T, V>(yr + ch, pk);
      }
    }
  } else {
    for (int64_t ch = lane * V; ch < c; ch += 32 * V) {
      Pack<T, V> pk = load<T, V>(xr + ch);
#pragma unroll
      for (int q = 0; q < V; ++q) pk.v[q] = from_f<T>(to_f(pk.v[q]) * gv);
      store<T, V>(yr + ch, pk);
    }
  }
}

// ---------------------------------------------------------------- dispatch
// Smallest K in {1, 2, 4, 8, 16} with K * rows_per_pass >= C, or 0 (re-read) when C is larger.
int pick_k(int64_t c, int64_t rows_per_pass) {
  for (int k = 1; k <= 16; k <<= 1)
    if (k * rows_per_pass >= c) return k;
  return 0;
}

template <typename T, typename W, int V, int LPR, int THREADS>
void launch_nchw(const SpatialGateArgs& a, cudaStream_t st) {
  constexpr int TP = LPR * V, R = THREADS / LPR;
  const dim3 grid(static_cast<unsigned>((a.hw + TP - 1) / TP), static_cast<unsigned>(a.n));
  const T* x = static_cast<const T*>(a.x);
  T* y = static_cast<T*>(a.y);
  T* g = static_cast<T*>(a.g);
  const W* w = static_cast<const W*>(a.w);
  const W* b = static_cast<const W*>(a.b);
#define EF_GATE(K) gate_nchw<T, W, V, LPR, K, THREADS><<<grid, THREADS, 0, st>>>(x, y, g, w, b, a.c, a.hw)
  switch (pick_k(a.c, R)) {
    case 1: EF_GATE(1); break;
    case 2: EF_GATE(2); break;
    case 4: EF_GATE(4); break;
    case 8: EF_GATE(8); break;
    case 16: EF_GATE(16); break;
    default: EF_GATE(0); break;
  }
#undef EF_GATE
}

template <typename T, typename W, int V>
void launch_nhwc(const SpatialGateArgs& a, cudaStream_t st) {
  const int64_t rows = a.n * a.hw;
  const unsigned grid = static_cast<unsigned>((rows + 7) / 8);
  const T* x = static_cast<const T*>(a.x);
  T* y = static_cast<T*>(a.y);
  T* g = static_cast<T*>(a.g);
  const W* w = static_cast<const W*>(a.w);
  const W* b = static_cast<const W*>(a.b);
#define EF_GATE(K) gate_nhwc<T, W, V, K><<<grid, 256, 0, st>>>(x, y, g, w, b, rows, a.c)
  switch (pick_k(a.c, 32 * V)) {
    case 1: EF_GATE(1); break;
    case 2: EF_GATE(2); break;
    case 4: EF_GATE(4); break;
    case 8: EF_GATE(8); break;
    case 16: EF_GATE(16); break;
    default: EF_GATE(0); break;
  }
#undef EF_GATE
}

template <typename T, typename W>
void launch(const SpatialGateArgs& a, cudaStream_t st) {
  constexpr int kVec = 16 / sizeof(T);
  const bool aligned = aligned16(a.x) && aligned16(a.y);
  if (a.layout == Layout::kNCHW) {
    if (aligned && a.hw % kVec == 0) launch_nchw<T, W, kVec, 8, 512>(a, st);
    else launch_nchw<T, W, 1, 32, 512>(a, st);
  } else {
    if (aligned && a.c % kVec == 0) launch_nhwc<T, W, kVec>(a, st);
    else launch_nhwc<T, W, 1>(a, st);
  }
}

}  // namespace

int spatial_gate(const SpatialGateArgs& a, void* stream) {
  int status = check_args(a);
  if (status != kOk || a.n * a.hw == 0) return status;
  if (a.n > 65535) return kUnsupported;  // grid.y
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  const bool xf = a.dtype == DType::kFloat32, wf = a.wtype == DType::kFloat32;
  if (xf && wf) launch<float, float>(a, st);
  else if (xf) launch<float, __half>(a, st);
  else if (wf) launch<__half, float>(a, st);
  else launch<__half, __half>(a, st);
  return to_status(cudaGetLastError());
}

}  // namespace cuda
}  // namespace edgefashion
