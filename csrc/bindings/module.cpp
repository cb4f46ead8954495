// edgefashion._C: the fused kernels without libtorch. CPU functions always; CUDA functions when the
// extension was built with nvcc (has_cuda). PyTorch registration lives in edgefashion/ops/fused.py.
#include "bindings.h"

#ifndef EDGEFASHION_CUDA_ARCHS
#define EDGEFASHION_CUDA_ARCHS ""
#endif

namespace {

bool cpu_avx2() {
#if defined(EF_HAVE_AVX2_VARIANT)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
  return false;
#endif
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  namespace py = pybind11;
  m.doc() = "edgefashion fused kernels (channel attention, spatial gate): CPU and, when built, CUDA";
  edgefashion::bindings::register_cpu(m);
#ifdef EDGEFASHION_WITH_CUDA
  edgefashion::bindings::register_cuda(m);
  m.attr("has_cuda") = true;
#else
  m.attr("has_cuda") = false;
#endif
  m.attr("cuda_archs") = EDGEFASHION_CUDA_ARCHS;
#ifdef _OPENMP
  m.attr("openmp") = true;
#else
  m.attr("openmp") = false;
#endif
  m.def("cpu_isa", [] { return cpu_avx2() ? "avx2" : "baseline"; },
        "Which build of the CPU kernels runs on this processor: 'avx2' (AVX2+FMA+F16C) or 'baseline'.");
}
