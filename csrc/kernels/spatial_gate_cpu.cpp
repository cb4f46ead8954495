// Sigmoid spatial gating on the CPU: g = sigmoid(w . x + b) per pixel, y = x * g.
// NCHW: work items are (sample, tile of pixels); the tile of all channels stays in the core's cache
// between the dot product and the scale, so x comes from memory once. NHWC: one pixel row at a time.
// Compiled twice (see cpu_common.h); the dispatcher at the bottom exists once.
#include "cpu_common.h"
#include "spatial_gate.h"

namespace edgefashion {
namespace cpu {
namespace EF_CPU_ISA {
namespace {

constexpr int64_t kMaxTile = 4096;  // pixels per NCHW work item (upper bound)

// Pixels per tile. The tile (all channels) must stay in a cache between the dot product and the scale.
// A tensor that comes from memory: about 2 MB tiles (last-level cache) with rows long enough for the
// hardware prefetchers. A tensor of at most 2 MB: tiles of about 256 KB (L2).
static int64_t tile_pixels(int64_t c, int64_t elem_bytes, int64_t total_bytes) {
  const int64_t target = total_bytes > (2 << 20) ? (2 << 20) : (256 << 10);
  int64_t p = target / (c * elem_bytes > 0 ? c * elem_bytes : 1);
  p = p < 16 ? 16 : (p > kMaxTile ? kMaxTile : p);
  return p & ~static_cast<int64_t>(15);
}

// acc[i] += w * row[i] for four rows at once (fewer passes over acc).
template <typename T>
static inline void fma_rows4(float* acc, const T* r0, const T* r1, const T* r2, const T* r3, const float* w,
                             int64_t np) {
  const vf8 w0 = vsplat(w[0]), w1 = vsplat(w[1]), w2 = vsplat(w[2]), w3 = vsplat(w[3]);
  int64_t i = 0;
  for (; i + 8 <= np; i += 8)
    store8(acc + i, load8(acc + i) + ((w0 * load8(r0 + i) + w1 * load8(r1 + i)) +
                                      (w2 * load8(r2 + i) + w3 * load8(r3 + i))));
  for (; i < np; ++i)
    acc[i] += (w[0] * to_f(r0[i]) + w[1] * to_f(r1[i])) + (w[2] * to_f(r2[i]) + w[3] * to_f(r3[i]));
}

// y[i] = x[i] * g[i]; streaming stores when asked.
template <typename T>
static inline void mul_row(const T* x, T* y, const float* g, int64_t n, bool stream) {
  int64_t i = 0;
#ifdef EF_HAVE_STREAM
  if (stream) {
    const int64_t align = 8 * static_cast<int64_t>(sizeof(T));
    for (; i < n && (reinterpret_cast<uintptr_t>(y + i) % align) != 0; ++i) y[i] = cast_to<T>(to_f(x[i]) * g[i]);
    for (; i + 8 <= n; i += 8) stream8(y + i, load8(x + i) * load8(g + i));
  }
#else
  (void)stream;
#endif
  for (; i + 8 <= n; i += 8) store8(y + i, load8(x + i) * load8(g + i));
  for (; i < n; ++i) y[i] = cast_to<T>(to_f(x[i]) * g[i]);
}

template <typename T, typename W>
static void run_nchw(const SpatialGateArgs& a, int threads) {
  const T* x = static_cast<const T*>(a.x);
  T* y = static_cast<T*>(a.y);
  T* g = static_cast<T*>(a.g);
  const W* w = static_cast<const W*>(a.w);
  const float bias = to_f(static_cast<const W*>(a.b)[0]);
  const int64_t c = a.c, hw = a.hw;
  const int64_t bytes = a.n * c * hw * static_cast<int64_t>(sizeof(T));
  const int64_t best = tile_pixels(c, sizeof(T), bytes);
  const int64_t tile = hw < best ? ((hw + 15) & ~static_cast<int64_t>(15)) : best;
  const int64_t tiles = (hw + tile - 1) / tile;
  const bool stream = bytes >= kStreamBytes;
#pragma omp parallel num_threads(threads)
  {
    float acc[kMaxTile];
    float wf[4];
#pragma omp for schedule(static)
    for (int64_t item = 0; item < a.n * tiles; ++item) {
      const int64_t n = item / tiles, p0 = (item % tiles) * tile;
      const int64_t np = hw - p0 < tile ? hw - p0 : tile;
      const T* xs = x + n * c * hw + p0;
      T* ys = y + n * c * hw + p0;
      for (int64_t i = 0; i < np; ++i) acc[i] = bias;
      int64_t k = 0;
      for (; k + 4 <= c; k += 4) {
        for (int j = 0; j < 4; ++j) wf[j] = to_f(w[k + j]);
        fma_rows4(acc, xs + k * hw, xs + (k + 1) * hw, xs + (k + 2) * hw, xs + (k + 3) * hw, wf, np);
      }
      for (; k < c; ++k) {
        const float wk = to_f(w[k]);
        const T* row = xs + k * hw;
        for (int64_t i = 0; i < np; ++i) acc[i] += wk * to_f(row[i]);
      }
      for (int64_t i = 0; i < np; ++i) {
        acc[i] = sigmoidf(acc[i]);
        g[n * hw + p0 + i] = cast_to<T>(acc[i]);
      }
      for (k = 0; k < c; ++k) mul_row(xs + k * hw, ys + k * hw, acc, np, stream);
    }
    if (stream) stream_fence();
  }
}

template <typename T, typename W>
static void run_nhwc(const SpatialGateArgs& a, int threads) {
  const T* x = static_cast<const T*>(a.x);
  T* y = static_cast<T*>(a.y);
  T* g = static_cast<T*>(a.g);
  const W* w = static_cast<const W*>(a.w);
  const float bias = to_f(static_cast<const W*>(a.b)[0]);
  const int64_t c = a.c;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t r = 0; r < a.n * a.hw; ++r) {
    const T* row = x + r * c;
    T* out = y + r * c;
    vf8 a0 = vsplat(0.f), a1 = a0;
    int64_t k = 0;
    for (; k + 16 <= c; k += 16) {
      a0 += load8(w + k) * load8(row + k);
      a1 += load8(w + k + 8) * load8(row + k + 8);
    }
    for (; k + 8 <= c; k += 8) a0 += load8(w + k) * load8(row + k);
    float total = bias + vsum(a0 + a1);
    for (; k < c; ++k) total += to_f(w[k]) * to_f(row[k]);
    const float gv = sigmoidf(total);
    g[r] = cast_to<T>(gv);
    scale_row(row, out, c, gv, false);
  }
}

template <typename T, typename W>
static void run(const SpatialGateArgs& a, int threads) {
  if (a.layout == Layout::kNCHW) run_nchw<T, W>(a, threads);
  else run_nhwc<T, W>(a, threads);
}

}  // namespace

int spatial_gate_impl(const SpatialGateArgs& a, int threads) {
  const bool xf = a.dtype == DType::kFloat32, wf = a.wtype == DType::kFloat32;
  if (xf && wf) run<float, float>(a, threads);
  else if (xf) run<float, half_t>(a, threads);
  else if (wf) run<half_t, float>(a, threads);
  else run<half_t, half_t>(a, threads);
  return kOk;
}

}  // namespace EF_CPU_ISA

#ifdef EF_CPU_DISPATCHER
int spatial_gate(const SpatialGateArgs& a, int num_threads) {
  int status = check_args(a);
  if (status != kOk || a.n * a.hw == 0) return status;
  const int threads = team_size(num_threads, a.n * (a.c > 0 ? a.c : 1) * a.hw);
#if defined(EF_HAVE_AVX2_VARIANT)
  if (cpu_has_avx2()) return avx2::spatial_gate_impl(a, threads);
#endif
  return base::spatial_gate_impl(a, threads);
}
#endif

}  // namespace cpu
}  // namespace edgefashion
