// Shared by the binding files: argument parsing and error messages. No libtorch.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "../kernels/common.h"

namespace edgefashion {
namespace bindings {

namespace py = pybind11;

void register_cpu(py::module_& m);
#ifdef EDGEFASHION_WITH_CUDA
void register_cuda(py::module_& m);
#endif

inline Layout parse_layout(const std::string& s) {
  if (s == "nchw") return Layout::kNCHW;
  if (s == "nhwc") return Layout::kNHWC;
  throw std::invalid_argument("layout must be 'nchw' or 'nhwc', got '" + s + "'");
}

inline DType parse_dtype(const std::string& s, const char* what) {
  if (s == "float32") return DType::kFloat32;
  if (s == "float16") return DType::kFloat16;
  throw std::invalid_argument(std::string(what) + " dtype must be 'float32' or 'float16', got '" + s + "'");
}

inline void raise_status(int status, const char* op) {
  if (status == kOk) return;
  std::string msg = std::string("edgefashion ") + op + " failed: " + status_string(status);
  if (status == kInvalidArgument || status == kUnsupported) throw std::invalid_argument(msg);
  throw std::runtime_error(msg);
}

}  // namespace bindings
}  // namespace edgefashion
