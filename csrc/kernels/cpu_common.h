// Helpers for the CPU kernels. Everything here is `static inline` or lives in the per-ISA namespace:
// the kernel files are compiled twice (baseline and, on x86-64, AVX2+FMA+F16C, see cpu_avx2.cpp),
// and no inline function may be shared between the two builds (the linker could pick the AVX2 copy).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "common.h"

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#ifndef EF_CPU_ISA
#define EF_CPU_ISA base
#define EF_CPU_DISPATCHER 1
#endif

namespace edgefashion {
namespace cpu {

// IEEE binary16 storage type (numpy float16 / torch.float16 bits).
#if defined(__FLT16_MAX__)
using half_t = _Float16;
static inline float to_f(half_t h) { return static_cast<float>(h); }
static inline half_t from_f(float f, half_t*) { return static_cast<half_t>(f); }
#else
struct half_t { uint16_t bits; };
static inline float to_f(half_t h) {  // exact widening
  uint32_t sign = (h.bits & 0x8000u) << 16, exp = (h.bits >> 10) & 0x1f, man = h.bits & 0x3ffu, bits;
  if (exp == 0x1f) bits = sign | 0x7f800000u | (man << 13);
  else if (exp != 0) bits = sign | ((exp + 112) << 23) | (man << 13);
  else if (man == 0) bits = sign;
  else { float f = std::ldexp(static_cast<float>(man), -24); std::memcpy(&bits, &f, 4); bits |= sign; }
  float out; std::memcpy(&out, &bits, 4); return out;
}
static inline half_t from_f(float f, half_t*) {  // round to nearest even
  uint32_t x; std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
  uint16_t out;
  if (ax >= 0x7f800000u) out = static_cast<uint16_t>(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0));
  else if (ax >= 0x477ff000u) out = static_cast<uint16_t>(sign | 0x7c00u);
  else if (ax < 0x38800000u) {  // subnormal half (or zero)
    float a; std::memcpy(&a, &ax, 4);
    out = static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(a * 16777216.0f)));
  } else {
    uint32_t r = ax + 0xc8000fffu + ((ax >> 13) & 1u);
    out = static_cast<uint16_t>(sign | (r >> 13));
  }
  return half_t{out};
}
#endif
static inline float to_f(float v) { return v; }
static inline float from_f(float f, float*) { return f; }

template <typename T>
static inline T cast_to(float f) { return from_f(f, static_cast<T*>(nullptr)); }


static inline float sigmoidf(float v) { return 1.0f / (1.0f + ::expf(-v)); }
static inline float maxf(float a, float b) { return a > b ? a : b; }

// Threads for `elements` of work: at most `requested` (<= 0: the OpenMP default), and one per
// kGrain elements, so small tensors run on the calling thread (no fork / barrier cost).
constexpr int64_t kGrain = 65536;
static inline int team_size(int requested, int64_t elements) {
#ifdef _OPENMP
  const int64_t most = requested > 0 ? requested : omp_get_max_threads();
  const int64_t by_work = elements / kGrain;
  return static_cast<int>(by_work < 1 ? 1 : (by_work < most ? by_work : most));
#else
  (void)requested;
  (void)elements;
  return 1;
#endif
}

// ---------------------------------------------------------------- 8-wide float vectors
// GCC / Clang vector extensions (one AVX register, or two SSE / NEON ones); a plain struct elsewhere.
// Loads and stores are unaligned; fp16 converts with F16C in the AVX2 build.
#if defined(__GNUC__)
typedef float vf8 __attribute__((vector_size(32)));
static inline vf8 vsplat(float f) { return vf8{f, f, f, f, f, f, f, f}; }
static inline vf8 vmax(vf8 a, vf8 b) { return a > b ? a : b; }
static inline float vsum(vf8 v) { return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7])); }
static inline float vmaxall(vf8 v) {
  float m = v[0];
  for (int i = 1; i < 8; ++i) m = maxf(v[i], m);
  return m;
}
static inline vf8 load8(const float* p) { vf8 v; std::memcpy(&v, p, sizeof(v)); return v; }
static inline void store8(float* p, vf8 v) { std::memcpy(p, &v, sizeof(v)); }
#if defined(__FLT16_MAX__)
typedef _Float16 vh8 __attribute__((vector_size(16)));
static inline vf8 load8(const half_t* p) { vh8 h; std::memcpy(&h, p, sizeof(h)); return __builtin_convertvector(h, vf8); }
static inline void store8(half_t* p, vf8 v) { vh8 h = __builtin_convertvector(v, vh8); std::memcpy(p, &h, sizeof(h)); }
#else
static inline vf8 load8(const half_t* p) { vf8 v; for (int i = 0; i < 8; ++i) v[i] = to_f(p[i]); return v; }
static inline void store8(half_t* p, vf8 v) { for (int i = 0; i < 8; ++i) p[i] = from_f(v[i], p); }
#endif
// Streaming store (bypasses the cache, no read-for-ownership) of one vector at a 32-byte aligned
// float address / 16-byte aligned half address. x86 only; elsewhere a plain store.
#if defined(__AVX__)
static inline void stream8(float* p, vf8 v) { _mm256_stream_ps(p, reinterpret_cast<__m256&>(v)); }
#elif defined(__SSE2__)
static inline void stream8(float* p, vf8 v) {
  __m128 lo, hi;
  std::memcpy(&lo, &v, 16);
  std::memcpy(&hi, reinterpret_cast<const char*>(&v) + 16, 16);
  _mm_stream_ps(p, lo);
  _mm_stream_ps(p + 4, hi);
}
#else
static inline void stream8(float* p, vf8 v) { store8(p, v); }
#endif
#if defined(__FLT16_MAX__) && defined(__SSE2__)
static inline void stream8(half_t* p, vf8 v) {
  vh8 h = __builtin_convertvector(v, vh8);
  __m128i bits;
  std::memcpy(&bits, &h, 16);
  _mm_stream_si128(reinterpret_cast<__m128i*>(p), bits);
}
#else
static inline void stream8(half_t* p, vf8 v) { store8(p, v); }
#endif
#define EF_HAVE_STREAM 1
#else  // portable fallback
struct vf8 { float v[8]; float& operator[](int i) { return v[i]; } float operator[](int i) const { return v[i]; } };
static inline vf8 vsplat(float f) { vf8 r; for (int i = 0; i < 8; ++i) r.v[i] = f; return r; }
static inline vf8 operator+(vf8 a, vf8 b) { for (int i = 0; i < 8; ++i) a.v[i] += b.v[i]; return a; }
static inline vf8 operator*(vf8 a, vf8 b) { for (int i = 0; i < 8; ++i) a.v[i] *= b.v[i]; return a; }
static inline vf8& operator+=(vf8& a, vf8 b) { a = a + b; return a; }
static inline vf8 vmax(vf8 a, vf8 b) { for (int i = 0; i < 8; ++i) a.v[i] = maxf(a.v[i], b.v[i]); return a; }
static inline float vsum(vf8 v) { float s = 0.f; for (int i = 0; i < 8; ++i) s += v.v[i]; return s; }
static inline float vmaxall(vf8 v) { float m = v.v[0]; for (int i = 1; i < 8; ++i) m = maxf(v.v[i], m); return m; }
template <typename T> static inline vf8 load8(const T* p) { vf8 r; for (int i = 0; i < 8; ++i) r.v[i] = to_f(p[i]); return r; }
template <typename T> static inline void store8(T* p, vf8 v) { for (int i = 0; i < 8; ++i) p[i] = cast_to<T>(v.v[i]); }
template <typename T> static inline void stream8(T* p, vf8 v) { store8(p, v); }
#endif

// Outputs at least this large are written with streaming stores: they cannot stay in the cache anyway,
// and skipping the read-for-ownership saves a third of the write traffic.
constexpr int64_t kStreamBytes = 8 << 20;

// y[i] = t[i] * s[i % ...] for one row: s is a scalar (splat) or a vector of per-element scales.
template <typename T>
static inline void scale_row(const T* t, T* y, int64_t n, float s, bool stream) {
  const vf8 sv = vsplat(s);
  int64_t i = 0;
#ifdef EF_HAVE_STREAM
  if (stream) {
    const int64_t align = 8 * static_cast<int64_t>(sizeof(T));  // one vector store
    for (; i < n && (reinterpret_cast<uintptr_t>(y + i) % align) != 0; ++i) y[i] = cast_to<T>(to_f(t[i]) * s);
    for (; i + 8 <= n; i += 8) stream8(y + i, load8(t + i) * sv);
  }
#else
  (void)stream;
#endif
  for (; i + 16 <= n; i += 16) {
    const vf8 a = load8(t + i), b = load8(t + i + 8);
    store8(y + i, a * sv);
    store8(y + i + 8, b * sv);
  }
  for (; i + 8 <= n; i += 8) store8(y + i, load8(t + i) * sv);
  for (; i < n; ++i) y[i] = cast_to<T>(to_f(t[i]) * s);
}

static inline void stream_fence() {
#if defined(EF_HAVE_STREAM) && (defined(__x86_64__) || defined(__i386__))
  __builtin_ia32_sfence();
#endif
}

// The per-ISA implementations (scratch buffers are allocated by the dispatcher, in the baseline TU).
namespace EF_CPU_ISA {
int channel_attention_impl(const ChannelAttentionArgs& a, float* scratch, int threads);
int spatial_gate_impl(const SpatialGateArgs& a, int threads);
}  // namespace EF_CPU_ISA

#if defined(EF_HAVE_AVX2_VARIANT)
namespace avx2 {
int channel_attention_impl(const ChannelAttentionArgs& a, float* scratch, int threads);
int spatial_gate_impl(const SpatialGateArgs& a, int threads);
}  // namespace avx2
static inline bool cpu_has_avx2() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                         __builtin_cpu_supports("f16c");
  return ok;
}
#endif

}  // namespace cpu
}  // namespace edgefashion
