// CUDA entry points of edgefashion._C: device pointers (ints), shapes and a cudaStream_t (int), so that
// PyTorch, CuPy and pycuda memory all work. Kernels are enqueued asynchronously on that stream.
#include <cstdint>
#include <string>

#include "../kernels/channel_attention.h"
#include "../kernels/spatial_gate.h"
#include "bindings.h"

namespace edgefashion {
namespace bindings {
namespace {

using std::string;

const void* ptr(uintptr_t p) { return reinterpret_cast<const void*>(p); }
void* mptr(uintptr_t p) { return reinterpret_cast<void*>(p); }

ChannelAttentionArgs ca_args(uintptr_t x, uintptr_t t, uintptr_t y, uintptr_t w1, uintptr_t b1, uintptr_t w2,
                             uintptr_t b2, int64_t n, int64_t c, int64_t hw, int64_t hidden, const string& dtype,
                             const string& wtype, const string& layout, bool use_max) {
  ChannelAttentionArgs a;
  a.x = ptr(x); a.t = t ? ptr(t) : nullptr; a.y = mptr(y);
  a.w1 = ptr(w1); a.b1 = ptr(b1); a.w2 = ptr(w2); a.b2 = ptr(b2);
  a.n = n; a.c = c; a.hw = hw; a.hidden = hidden;
  a.dtype = parse_dtype(dtype, "activation");
  a.wtype = parse_dtype(wtype, "weight");
  a.layout = parse_layout(layout);
  a.use_max = use_max;
  return a;
}

size_t ca_workspace(int64_t n, int64_t c, int64_t hw, int64_t hidden, const string& layout) {
  ChannelAttentionArgs a;
  a.n = n; a.c = c; a.hw = hw; a.hidden = hidden; a.layout = parse_layout(layout);
  return cuda::channel_attention_workspace_size(a);
}

void ca_cuda(uintptr_t x, uintptr_t t, uintptr_t y, uintptr_t w1, uintptr_t b1, uintptr_t w2, uintptr_t b2,
             int64_t n, int64_t c, int64_t hw, int64_t hidden, const string& dtype, const string& wtype,
             const string& layout, bool use_max, uintptr_t workspace, size_t workspace_bytes, uintptr_t stream) {
  const ChannelAttentionArgs a = ca_args(x, t, y, w1, b1, w2, b2, n, c, hw, hidden, dtype, wtype, layout, use_max);
  raise_status(cuda::channel_attention(a, mptr(workspace), workspace_bytes, mptr(stream)),
               "channel_attention (cuda)");
}

void sg_cuda(uintptr_t x, uintptr_t y, uintptr_t g, uintptr_t w, uintptr_t b, int64_t n, int64_t c, int64_t hw,
             const string& dtype, const string& wtype, const string& layout, uintptr_t stream) {
  SpatialGateArgs a;
  a.x = ptr(x); a.y = mptr(y); a.g = mptr(g); a.w = ptr(w); a.b = ptr(b);
  a.n = n; a.c = c; a.hw = hw;
  a.dtype = parse_dtype(dtype, "activation");
  a.wtype = parse_dtype(wtype, "weight");
  a.layout = parse_layout(layout);
  raise_status(cuda::spatial_gate(a, mptr(stream)), "spatial_gate (cuda)");
}

}  // namespace

void register_cuda(py::module_& m) {
  m.def("channel_attention_cuda_workspace_size", &ca_workspace,
        "Bytes of device scratch memory channel_attention_cuda needs for these shapes.", py::arg("n"),
        py::arg("c"), py::arg("hw"), py::arg("hidden"), py::arg("layout") = "nchw");
  m.def("channel_attention_cuda", &ca_cuda,
        "Enqueue channel attention on `stream`. Pointers are device addresses of contiguous buffers: x, t "
        "(0 = use x), y: (N, C, HW) 'nchw' or (N, HW, C) 'nhwc'; w1 (hidden, C), b1, w2 (C, hidden), b2.",
        py::arg("x"), py::arg("t"), py::arg("y"), py::arg("w1"), py::arg("b1"), py::arg("w2"), py::arg("b2"),
        py::arg("n"), py::arg("c"), py::arg("hw"), py::arg("hidden"), py::arg("dtype"), py::arg("wtype"),
        py::arg("layout"), py::arg("use_max"), py::arg("workspace"), py::arg("workspace_bytes"),
        py::arg("stream"));
  m.def("spatial_gate_cuda", &sg_cuda,
        "Enqueue spatial gating on `stream`. Device pointers of contiguous buffers: x, y (N, C, HW) 'nchw' or "
        "(N, HW, C) 'nhwc'; g (N, HW); w (C,); b (1,).",
        py::arg("x"), py::arg("y"), py::arg("g"), py::arg("w"), py::arg("b"), py::arg("n"), py::arg("c"),
        py::arg("hw"), py::arg("dtype"), py::arg("wtype"), py::arg("layout"), py::arg("stream"));
}

}  // namespace bindings
}  // namespace edgefashion
