// GAP+GMP channel attention on the CPU: one read of x for both pools, the two small FC layers,
// one read of t and one write of y. OpenMP over the N*C planes (NCHW) or over pixels (NHWC).
// Compiled twice (see cpu_common.h); the dispatcher at the bottom exists once.
#include <vector>

#include "channel_attention.h"
#include "cpu_common.h"

namespace edgefashion {
namespace cpu {
namespace EF_CPU_ISA {
namespace {


template <typename T>
static inline void pool_row(const T* r, int64_t n, float* sum_out, float* max_out) {
  vf8 s0 = vsplat(0.f), s1 = s0, s2 = s0, s3 = s0;
  vf8 m0 = vsplat(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const vf8 a = load8(r + i), b = load8(r + i + 8), c = load8(r + i + 16), d = load8(r + i + 24);
    s0 += a; s1 += b; s2 += c; s3 += d;
    m0 = vmax(a, m0); m1 = vmax(b, m1); m2 = vmax(c, m2); m3 = vmax(d, m3);
  }
  for (; i + 8 <= n; i += 8) {
    const vf8 a = load8(r + i);
    s0 += a;
    m0 = vmax(a, m0);
  }
  float ts = vsum((s0 + s1) + (s2 + s3)), tm = vmaxall(vmax(vmax(m0, m1), vmax(m2, m3)));
  for (; i < n; ++i) {
    const float v = to_f(r[i]);
    ts += v;
    tm = maxf(v, tm);
  }
  *sum_out = ts;
  *max_out = tm;
}

template <typename W>
static inline float dot(const W* w, const float* v, int64_t n) {
  vf8 a0 = vsplat(0.f), a1 = a0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 += load8(w + i) * load8(v + i);
    a1 += load8(w + i + 8) * load8(v + i + 8);
  }
  for (; i + 8 <= n; i += 8) a0 += load8(w + i) * load8(v + i);
  float total = vsum(a0 + a1);
  for (; i < n; ++i) total += to_f(w[i]) * v[i];
  return total;
}

template <typename T>
static inline void scale_row_vec(const T* t, T* y, int64_t n, const float* s) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) store8(y + i, load8(t + i) * load8(s + i));
  for (; i < n; ++i) y[i] = cast_to<T>(to_f(t[i]) * s[i]);
}

// pooled (N, C) -> s (N, C), through z (N, hidden). Called inside a parallel region.
template <typename W>
static void mlp(const ChannelAttentionArgs& a, const float* pooled, float* z, float* s) {
  const W* w1 = static_cast<const W*>(a.w1);
  const W* b1 = static_cast<const W*>(a.b1);
  const W* w2 = static_cast<const W*>(a.w2);
  const W* b2 = static_cast<const W*>(a.b2);
  const int64_t c = a.c, h = a.hidden;
#pragma omp for schedule(static)
  for (int64_t i = 0; i < a.n * h; ++i) {
    const int64_t n = i / h, j = i % h;
    z[i] = maxf(0.f, dot(w1 + j * c, pooled + n * c, c) + to_f(b1[j]));
  }
#pragma omp for schedule(static)
  for (int64_t i = 0; i < a.n * c; ++i) {
    const int64_t n = i / c, k = i % c;
    s[i] = sigmoidf(dot(w2 + k * h, z + n * h, h) + to_f(b2[k]));
  }
}

template <typename T, typename W>
static void run_nchw(const ChannelAttentionArgs& a, float* pooled, float* z, float* s, int threads) {
  const T* x = static_cast<const T*>(a.x);
  const T* t = a.t ? static_cast<const T*>(a.t) : x;
  T* y = static_cast<T*>(a.y);
  const int64_t planes = a.n * a.c, hw = a.hw;
  const float inv = 1.0f / static_cast<float>(hw);
  const bool stream = planes * hw * static_cast<int64_t>(sizeof(T)) >= kStreamBytes;
#pragma omp parallel num_threads(threads)
  {
#pragma omp for schedule(static)
    for (int64_t p = 0; p < planes; ++p) {
      float sum, mx;
      pool_row(x + p * hw, hw, &sum, &mx);
      pooled[p] = sum * inv + (a.use_max ? mx : 0.f);
    }
    mlp<W>(a, pooled, z, s);
#pragma omp for schedule(static)
    for (int64_t p = 0; p < planes; ++p) scale_row(t + p * hw, y + p * hw, hw, s[p], stream);
    if (stream) stream_fence();
  }
}

// NHWC: each thread pools a range of pixels of one sample into its own partial sums, then the
// partials are combined per channel. `part` holds 2 * C floats per thread.
template <typename T, typename W>
static void run_nhwc(const ChannelAttentionArgs& a, float* pooled, float* z, float* s, float* part,
                     int threads) {
  const T* x = static_cast<const T*>(a.x);
  const T* t = a.t ? static_cast<const T*>(a.t) : x;
  T* y = static_cast<T*>(a.y);
  const int64_t c = a.c, hw = a.hw;
  const float inv = 1.0f / static_cast<float>(hw);
#pragma omp parallel num_threads(threads)
  {
#ifdef _OPENMP
    const int tid = omp_get_thread_num(), team = omp_get_num_threads();
#else
    const int tid = 0, team = 1;
#endif
    float* ps = part + static_cast<int64_t>(tid) * 2 * c;
    float* pm = ps + c;
    for (int64_t n = 0; n < a.n; ++n) {
      for (int64_t k = 0; k < c; ++k) { ps[k] = 0.f; pm[k] = -INFINITY; }
      const int64_t p0 = hw * tid / team, p1 = hw * (tid + 1) / team;
      for (int64_t p = p0; p < p1; ++p) {
        const T* row = x + (n * hw + p) * c;
        int64_t k = 0;
        for (; k + 8 <= c; k += 8) {
          const vf8 v = load8(row + k);
          store8(ps + k, load8(ps + k) + v);
          store8(pm + k, vmax(v, load8(pm + k)));
        }
        for (; k < c; ++k) {
          const float v = to_f(row[k]);
          ps[k] += v;
          pm[k] = maxf(v, pm[k]);
        }
      }
#pragma omp barrier
#pragma omp for schedule(static)
      for (int64_t k = 0; k < c; ++k) {
        float sum = 0.f, mx = -INFINITY;
        for (int r = 0; r < team; ++r) {
          sum += part[static_cast<int64_t>(r) * 2 * c + k];
          mx = maxf(part[static_cast<int64_t>(r) * 2 * c + c + k], mx);
        }
        pooled[n * c + k] = sum * inv + (a.use_max ? mx : 0.f);
      }  // implicit barrier: the partials are free again
    }
    mlp<W>(a, pooled, z, s);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < a.n * hw; ++r)
      scale_row_vec(t + r * c, y + r * c, c, s + (r / hw) * c);
  }
}

template <typename T, typename W>
static void run(const ChannelAttentionArgs& a, float* scratch, int threads) {
  float* pooled = scratch;
  float* s = pooled + a.n * a.c;
  float* z = s + a.n * a.c;
  if (a.layout == Layout::kNCHW) run_nchw<T, W>(a, pooled, z, s, threads);
  else run_nhwc<T, W>(a, pooled, z, s, z + a.n * a.hidden, threads);
}

}  // namespace

int channel_attention_impl(const ChannelAttentionArgs& a, float* scratch, int threads) {
  const bool xf = a.dtype == DType::kFloat32, wf = a.wtype == DType::kFloat32;
  if (xf && wf) run<float, float>(a, scratch, threads);
  else if (xf) run<float, half_t>(a, scratch, threads);
  else if (wf) run<half_t, float>(a, scratch, threads);
  else run<half_t, half_t>(a, scratch, threads);
  return kOk;
}

}  // namespace EF_CPU_ISA

#ifdef EF_CPU_DISPATCHER
int channel_attention(const ChannelAttentionArgs& a, int num_threads) {
  int status = check_args(a);
  if (status != kOk || a.n * a.c * a.hw == 0) return status;
  const int threads = team_size(num_threads, a.n * a.c * a.hw);
  int64_t floats = 2 * a.n * a.c + a.n * a.hidden;
  if (a.layout == Layout::kNHWC) floats += static_cast<int64_t>(threads) * 2 * a.c;
  std::vector<float> scratch(static_cast<size_t>(floats));
#if defined(EF_HAVE_AVX2_VARIANT)
  if (cpu_has_avx2()) return avx2::channel_attention_impl(a, scratch.data(), threads);
#endif
  return base::channel_attention_impl(a, scratch.data(), threads);
}
#endif

}  // namespace cpu
}  // namespace edgefashion
