// CPU entry points of edgefashion._C: numpy-compatible, C-contiguous buffers in, numpy arrays out.
#include <cstdint>
#include <string>
#include <vector>

#include "../kernels/channel_attention.h"
#include "../kernels/spatial_gate.h"
#include "bindings.h"

namespace edgefashion {
namespace bindings {
namespace {

using std::string;

DType array_dtype(const py::array& a, const string& name) {
  if (a.dtype().kind() == 'f' && a.itemsize() == 4) return DType::kFloat32;
  if (a.dtype().kind() == 'f' && a.itemsize() == 2) return DType::kFloat16;
  throw std::invalid_argument(name + " must be float32 or float16, got " +
                              py::str(a.dtype()).cast<string>());
}

void require_contiguous(const py::array& a, const string& name) {
  if (!(a.flags() & py::array::c_style))
    throw std::invalid_argument(name + " is not C-contiguous; pass numpy.ascontiguousarray(" + name +
                                ") (torch: .contiguous())");
}

string shape_str(const py::array& a) {
  string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

std::vector<py::ssize_t> shape_of(const py::array& a) {
  return std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim());
}

// (N, C, HW) of an activation: nchw = (N, C, *spatial), nhwc = (N, *spatial, C).
struct Dims { int64_t n, c, hw; };

Dims activation_dims(const py::array& x, Layout layout) {
  if (x.ndim() < 2)
    throw std::invalid_argument("x must have at least 2 dimensions (N, C, ...), got shape " + shape_str(x));
  Dims d{x.shape(0), layout == Layout::kNCHW ? x.shape(1) : x.shape(x.ndim() - 1), 1};
  const py::ssize_t first = layout == Layout::kNCHW ? 2 : 1, last = layout == Layout::kNCHW ? x.ndim() : x.ndim() - 1;
  for (py::ssize_t i = first; i < last; ++i) d.hw *= x.shape(i);
  return d;
}

// A weight: contiguous, given shape, given dtype.
void check_weight(const py::array& a, const string& name, std::vector<int64_t> shape, DType wtype) {
  require_contiguous(a, name);
  if (array_dtype(a, name) != wtype) throw std::invalid_argument(name + " must have the dtype of the other weights");
  bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
  for (size_t i = 0; ok && i < shape.size(); ++i) ok = a.shape(i) == shape[i];
  if (!ok) {
    string want = "(";
    for (size_t i = 0; i < shape.size(); ++i) want += (i ? ", " : "") + std::to_string(shape[i]);
    throw std::invalid_argument(name + " must have shape " + want + (shape.size() == 1 ? ",)" : ")") +
                                ", got " + shape_str(a));
  }
}

// `out` if given (checked: same shape / dtype as `like`, contiguous, writable), else a new array.
py::array output(const py::object& out, const py::array& like, std::vector<py::ssize_t> shape, const string& name) {
  if (out.is_none()) return py::array(like.dtype(), shape);
  py::array o = py::reinterpret_borrow<py::array>(out);
  require_contiguous(o, name);
  if (!o.writeable()) throw std::invalid_argument(name + " is read-only");
  if (!o.dtype().is(like.dtype()) || shape_of(o) != shape)
    throw std::invalid_argument(name + " must match the expected dtype and shape, got " + shape_str(o));
  return o;
}

py::array channel_attention_cpu(const py::array& x, const py::array& w1, const py::array& b1,
                                const py::array& w2, const py::array& b2, const py::object& t, bool use_max,
                                const string& layout, const py::object& out, int num_threads) {
  ChannelAttentionArgs a;
  a.layout = parse_layout(layout);
  require_contiguous(x, "x");
  a.dtype = array_dtype(x, "x");
  const Dims d = activation_dims(x, a.layout);
  a.n = d.n; a.c = d.c; a.hw = d.hw; a.use_max = use_max;
  if (w1.ndim() != 2) throw std::invalid_argument("w1 must be 2-d (C/r, C), got shape " + shape_str(w1));
  a.hidden = w1.shape(0);
  a.wtype = array_dtype(w1, "w1");
  check_weight(w1, "w1", {a.hidden, a.c}, a.wtype);
  check_weight(b1, "b1", {a.hidden}, a.wtype);
  check_weight(w2, "w2", {a.c, a.hidden}, a.wtype);
  check_weight(b2, "b2", {a.c}, a.wtype);
  if (!t.is_none()) {
    py::array ta = py::reinterpret_borrow<py::array>(t);
    require_contiguous(ta, "t");
    if (!ta.dtype().is(x.dtype()) || shape_of(ta) != shape_of(x))
      throw std::invalid_argument("t must have the shape and dtype of x: x " + shape_str(x) + ", t " + shape_str(ta));
    a.t = ta.data();
  }
  py::array y = output(out, x, shape_of(x), "out");
  a.x = x.data(); a.y = y.mutable_data();
  a.w1 = w1.data(); a.b1 = b1.data(); a.w2 = w2.data(); a.b2 = b2.data();
  int status;
  {
    py::gil_scoped_release release;
    status = cpu::channel_attention(a, num_threads);
  }
  raise_status(status, "channel_attention (cpu)");
  return y;
}

py::tuple spatial_gate_cpu(const py::array& x, const py::array& w, const py::array& b, const string& layout,
                           const py::object& out, const py::object& gate_out, int num_threads) {
  SpatialGateArgs a;
  a.layout = parse_layout(layout);
  require_contiguous(x, "x");
  a.dtype = array_dtype(x, "x");
  const Dims d = activation_dims(x, a.layout);
  a.n = d.n; a.c = d.c; a.hw = d.hw;
  a.wtype = array_dtype(w, "w");
  check_weight(w, "w", {a.c}, a.wtype);
  check_weight(b, "b", {1}, a.wtype);
  std::vector<py::ssize_t> gshape = shape_of(x);
  gshape[a.layout == Layout::kNCHW ? 1 : gshape.size() - 1] = 1;
  py::array y = output(out, x, shape_of(x), "out");
  py::array g = output(gate_out, x, gshape, "gate_out");
  a.x = x.data(); a.y = y.mutable_data(); a.g = g.mutable_data(); a.w = w.data(); a.b = b.data();
  int status;
  {
    py::gil_scoped_release release;
    status = cpu::spatial_gate(a, num_threads);
  }
  raise_status(status, "spatial_gate (cpu)");
  return py::make_tuple(y, g);
}

// Pointer entry points for callers that own contiguous host memory (edgefashion.ops passes torch
// tensors' data_ptr(), skipping the numpy views); same layout rules as the CUDA entry points.
void ca_cpu_raw(uintptr_t x, uintptr_t t, uintptr_t y, uintptr_t w1, uintptr_t b1, uintptr_t w2, uintptr_t b2,
                int64_t n, int64_t c, int64_t hw, int64_t hidden, const string& dtype, const string& wtype,
                const string& layout, bool use_max, int num_threads) {
  ChannelAttentionArgs a;
  a.x = reinterpret_cast<const void*>(x); a.t = t ? reinterpret_cast<const void*>(t) : nullptr;
  a.y = reinterpret_cast<void*>(y);
  a.w1 = reinterpret_cast<const void*>(w1); a.b1 = reinterpret_cast<const void*>(b1);
  a.w2 = reinterpret_cast<const void*>(w2); a.b2 = reinterpret_cast<const void*>(b2);
  a.n = n; a.c = c; a.hw = hw; a.hidden = hidden; a.use_max = use_max;
  a.dtype = parse_dtype(dtype, "activation"); a.wtype = parse_dtype(wtype, "weight"); a.layout = parse_layout(layout);
  int status;
  {
    py::gil_scoped_release release;
    status = cpu::channel_attention(a, num_threads);
  }
  raise_status(status, "channel_attention (cpu)");
}

void sg_cpu_raw(uintptr_t x, uintptr_t y, uintptr_t g, uintptr_t w, uintptr_t b, int64_t n, int64_t c, int64_t hw,
                const string& dtype, const string& wtype, const string& layout, int num_threads) {
  SpatialGateArgs a;
  a.x = reinterpret_cast<const void*>(x); a.y = reinterpret_cast<void*>(y); a.g = reinterpret_cast<void*>(g);
  a.w = reinterpret_cast<const void*>(w); a.b = reinterpret_cast<const void*>(b);
  a.n = n; a.c = c; a.hw = hw;
  a.dtype = parse_dtype(dtype, "activation"); a.wtype = parse_dtype(wtype, "weight"); a.layout = parse_layout(layout);
  int status;
  {
    py::gil_scoped_release release;
    status = cpu::spatial_gate(a, num_threads);
  }
  raise_status(status, "spatial_gate (cpu)");
}

}  // namespace

void register_cpu(py::module_& m) {
  m.def("channel_attention_cpu", &channel_attention_cpu,
        "y = t * sigmoid(W2 relu(W1 (mean_hw(x) [+ max_hw(x)]) + b1) + b2) on the CPU.\n"
        "x, t: float32/float16 C-contiguous (N, C, *spatial) for layout='nchw' or (N, *spatial, C) for "
        "'nhwc'; w1 (C/r, C), b1 (C/r,), w2 (C, C/r), b2 (C,) float32 or float16. Returns y (or fills out).",
        py::arg("x"), py::arg("w1"), py::arg("b1"), py::arg("w2"), py::arg("b2"), py::arg("t") = py::none(),
        py::arg("use_max") = true, py::arg("layout") = "nchw", py::arg("out") = py::none(),
        py::arg("num_threads") = 0);
  m.def("spatial_gate_cpu", &spatial_gate_cpu,
        "g = sigmoid(sum_c w_c x_c + b), y = x * g on the CPU. x: float32/float16 C-contiguous "
        "(N, C, *spatial) ('nchw') or (N, *spatial, C) ('nhwc'); w (C,), b (1,). Returns (y, g), g with C = 1.",
        py::arg("x"), py::arg("w"), py::arg("b"), py::arg("layout") = "nchw", py::arg("out") = py::none(),
        py::arg("gate_out") = py::none(), py::arg("num_threads") = 0);
  m.def("channel_attention_cpu_ptr", &ca_cpu_raw,
        "channel_attention_cpu on raw host pointers of contiguous buffers (arguments as channel_attention_cuda, "
        "with num_threads instead of workspace and stream). The caller guarantees sizes and lifetimes.",
        py::arg("x"), py::arg("t"), py::arg("y"), py::arg("w1"), py::arg("b1"), py::arg("w2"), py::arg("b2"),
        py::arg("n"), py::arg("c"), py::arg("hw"), py::arg("hidden"), py::arg("dtype"), py::arg("wtype"),
        py::arg("layout"), py::arg("use_max"), py::arg("num_threads"));
  m.def("spatial_gate_cpu_ptr", &sg_cpu_raw,
        "spatial_gate_cpu on raw host pointers of contiguous buffers (arguments as spatial_gate_cuda, with "
        "num_threads instead of stream). The caller guarantees sizes and lifetimes.",
        py::arg("x"), py::arg("y"), py::arg("g"), py::arg("w"), py::arg("b"), py::arg("n"), py::arg("c"),
        py::arg("hw"), py::arg("dtype"), py::arg("wtype"), py::arg("layout"), py::arg("num_threads"));
}

}  // namespace bindings
}  // namespace edgefashion
