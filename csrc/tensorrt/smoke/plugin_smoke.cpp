// Exercises libedgefashion_trt_plugins.so the way TensorRT would, without TensorRT: dlopen, getCreators,
// createPlugin from fields, capabilities, format / type negotiation, workspace, enqueue on the GPU
// (compared with the CPU kernels), serialization round trip. Needs TensorRT's headers, a GPU, no libnvinfer.
//   edgefashion_trt_plugin_smoke path/to/libedgefashion_trt_plugins.so      -> exit 0 when all checks pass
#include <NvInfer.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/channel_attention.h"
#include "kernels/spatial_gate.h"

using namespace nvinfer1;

static int g_failures = 0;
#define CHECK(cond, msg)                                              \
  do {                                                                \
    if (!(cond)) { std::printf("FAIL: %s (%s)\n", msg, #cond); ++g_failures; } \
  } while (0)

static PluginTensorDesc desc(std::vector<int64_t> dims, DataType type) {
  PluginTensorDesc d{};
  d.dims.nbDims = static_cast<int32_t>(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) d.dims.d[i] = dims[i];
  d.type = type;
  d.format = TensorFormat::kLINEAR;
  d.scale = 1.f;
  return d;
}

static DynamicPluginTensorDesc dyn(const PluginTensorDesc& d) {
  DynamicPluginTensorDesc out{};
  out.desc = d;
  out.min = out.max = out.opt = d.dims;
  return out;
}

struct Buffer {
  void* ptr = nullptr;
  explicit Buffer(const std::vector<float>& host) {
    cudaMalloc(&ptr, host.size() * 4);
    cudaMemcpy(ptr, host.data(), host.size() * 4, cudaMemcpyHostToDevice);
  }
  explicit Buffer(size_t bytes) { cudaMalloc(&ptr, bytes ? bytes : 1); }
  ~Buffer() { cudaFree(ptr); }
  std::vector<float> get(size_t n) const {
    std::vector<float> h(n);
    cudaMemcpy(h.data(), ptr, n * 4, cudaMemcpyDeviceToHost);
    return h;
  }
};

static std::vector<float> randn(size_t n, float scale, std::mt19937& rng) {
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

static float max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0.f;
  for (size_t i = 0; i < a.size(); ++i) m = std::fmax(m, std::fabs(a[i] - b[i]));
  return m;
}

static IPluginCreatorV3One* find(IPluginCreatorInterface* const* creators, int n, const char* name) {
  for (int i = 0; i < n; ++i) {
    auto* c = static_cast<IPluginCreatorV3One*>(creators[i]);
    if (std::strcmp(c->getPluginName(), name) == 0) return c;
  }
  return nullptr;
}

static void channel_attention(IPluginCreatorV3One* creator, std::mt19937& rng) {
  const int64_t n = 2, c = 64, h = 7, w = 9, hidden = 32, numel = n * c * h * w;
  int32_t use_max = 1, has_t = 1;
  PluginField fields[] = {PluginField("use_max", &use_max, PluginFieldType::kINT32, 1)};
  PluginFieldCollection fc{1, fields};
  IPluginV3* plugin = creator->createPlugin("ca", &fc, TensorRTPhase::kBUILD);
  CHECK(plugin != nullptr, "ChannelAttention createPlugin");
  auto* core = static_cast<IPluginV3OneCore*>(plugin->getCapabilityInterface(PluginCapabilityType::kCORE));
  auto* build = static_cast<IPluginV3OneBuild*>(plugin->getCapabilityInterface(PluginCapabilityType::kBUILD));
  auto* run = static_cast<IPluginV3OneRuntime*>(plugin->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
  CHECK(std::strcmp(core->getPluginNamespace(), "edgefashion") == 0, "namespace");
  CHECK(std::strcmp(core->getPluginVersion(), "1") == 0, "version");
  std::vector<PluginTensorDesc> in = {desc({n, c, h, w}, DataType::kFLOAT), desc({hidden, c}, DataType::kFLOAT),
                                      desc({hidden}, DataType::kFLOAT), desc({c, hidden}, DataType::kFLOAT),
                                      desc({c}, DataType::kFLOAT), desc({n, c, h, w}, DataType::kFLOAT)};
  std::vector<PluginTensorDesc> out = {desc({n, c, h, w}, DataType::kFLOAT)};
  std::vector<DynamicPluginTensorDesc> io;
  for (auto& d : in) io.push_back(dyn(d));
  io.push_back(dyn(out[0]));
  for (int pos = 0; pos < 7; ++pos) CHECK(build->supportsFormatCombination(pos, io.data(), 6, 1), "formats fp32");
  io[0].desc.type = DataType::kINT8;
  CHECK(!build->supportsFormatCombination(0, io.data(), 6, 1), "int8 x rejected");
  io[0].desc.type = DataType::kFLOAT;
  DataType types[6] = {DataType::kHALF, DataType::kFLOAT, DataType::kFLOAT, DataType::kFLOAT, DataType::kFLOAT,
                       DataType::kHALF};
  DataType out_type;
  CHECK(build->getOutputDataTypes(&out_type, 1, types, 6) == 0 && out_type == DataType::kHALF, "output type");
  CHECK(build->configurePlugin(io.data(), 6, io.data() + 6, 1) == 0, "configurePlugin");
  const size_t ws_bytes = build->getWorkspaceSize(io.data(), 6, io.data() + 6, 1);
  CHECK(ws_bytes > 0, "workspace size");

  auto x = randn(numel, 1.f, rng), t = randn(numel, 1.f, rng);
  auto w1 = randn(hidden * c, 0.1f, rng), b1 = randn(hidden, 0.1f, rng);
  auto w2 = randn(c * hidden, 0.1f, rng), b2 = randn(c, 0.1f, rng);
  Buffer dx(x), dt(t), dw1(w1), db1(b1), dw2(w2), db2(b2), dy(numel * 4), ws(ws_bytes);
  const void* inputs[] = {dx.ptr, dw1.ptr, db1.ptr, dw2.ptr, db2.ptr, dt.ptr};
  void* outputs[] = {dy.ptr};
  CHECK(run->onShapeChange(in.data(), 6, out.data(), 1) == 0, "onShapeChange");
  CHECK(run->enqueue(in.data(), out.data(), inputs, outputs, ws.ptr, nullptr) == 0, "enqueue");
  CHECK(cudaDeviceSynchronize() == cudaSuccess, "sync");

  std::vector<float> ref(numel);
  edgefashion::ChannelAttentionArgs a;
  a.x = x.data(); a.t = t.data(); a.y = ref.data(); a.w1 = w1.data(); a.b1 = b1.data(); a.w2 = w2.data();
  a.b2 = b2.data(); a.n = n; a.c = c; a.hw = h * w; a.hidden = hidden; a.use_max = true;
  CHECK(edgefashion::cpu::channel_attention(a, 1) == 0, "cpu reference");
  const float diff = max_diff(dy.get(numel), ref);
  std::printf("ChannelAttention plugin vs CPU kernel: max abs diff %.3g\n", diff);
  CHECK(diff < 1e-5f, "ChannelAttention parity");

  // Serialization round trip: the runtime-phase plugin reads back use_max and has_t.
  const PluginFieldCollection* saved = run->getFieldsToSerialize();
  IPluginV3* restored = creator->createPlugin("ca", saved, TensorRTPhase::kRUNTIME);
  auto* run2 = static_cast<IPluginV3OneRuntime*>(restored->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
  IPluginV3* attached = run2->attachToContext(nullptr);
  auto* run3 = static_cast<IPluginV3OneRuntime*>(attached->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
  cudaMemset(dy.ptr, 0, numel * 4);
  CHECK(run3->enqueue(in.data(), out.data(), inputs, outputs, ws.ptr, nullptr) == 0, "enqueue after restore");
  cudaDeviceSynchronize();
  CHECK(max_diff(dy.get(numel), ref) < 1e-5f, "restored ChannelAttention parity");
  (void)has_t;
  delete attached;
  delete restored;
  delete plugin;
}

static void spatial_gate(IPluginCreatorV3One* creator, std::mt19937& rng) {
  const int64_t n = 3, c = 40, h = 5, w = 11, numel = n * c * h * w, pixels = n * h * w;
  IPluginV3* plugin = creator->createPlugin("sg", creator->getFieldNames(), TensorRTPhase::kBUILD);
  CHECK(plugin != nullptr, "SpatialGate createPlugin");
  auto* build = static_cast<IPluginV3OneBuild*>(plugin->getCapabilityInterface(PluginCapabilityType::kBUILD));
  auto* run = static_cast<IPluginV3OneRuntime*>(plugin->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
  CHECK(build->getNbOutputs() == 2, "two outputs");
  std::vector<PluginTensorDesc> in = {desc({n, c, h, w}, DataType::kFLOAT), desc({c}, DataType::kFLOAT),
                                      desc({1}, DataType::kFLOAT)};
  std::vector<PluginTensorDesc> out = {desc({n, c, h, w}, DataType::kFLOAT), desc({n, 1, h, w}, DataType::kFLOAT)};
  auto x = randn(numel, 1.f, rng), wv = randn(c, 0.2f, rng), b = randn(1, 0.2f, rng);
  Buffer dx(x), dw(wv), db(b), dy(numel * 4), dg(pixels * 4);
  const void* inputs[] = {dx.ptr, dw.ptr, db.ptr};
  void* outputs[] = {dy.ptr, dg.ptr};
  CHECK(run->enqueue(in.data(), out.data(), inputs, outputs, nullptr, nullptr) == 0, "SpatialGate enqueue");
  cudaDeviceSynchronize();
  std::vector<float> ry(numel), rg(pixels);
  edgefashion::SpatialGateArgs a;
  a.x = x.data(); a.y = ry.data(); a.g = rg.data(); a.w = wv.data(); a.b = b.data(); a.n = n; a.c = c; a.hw = h * w;
  CHECK(edgefashion::cpu::spatial_gate(a, 1) == 0, "cpu reference");
  const float dyd = max_diff(dy.get(numel), ry), dgd = max_diff(dg.get(pixels), rg);
  std::printf("SpatialGate plugin vs CPU kernel: max abs diff y %.3g g %.3g\n", dyd, dgd);
  CHECK(dyd < 1e-5f && dgd < 1e-6f, "SpatialGate parity");
  delete plugin;
}

int main(int argc, char** argv) {
  if (argc < 2) { std::printf("usage: %s libedgefashion_trt_plugins.so\n", argv[0]); return 2; }
  void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) { std::printf("dlopen failed: %s\n", dlerror()); return 1; }
  using GetCreators = IPluginCreatorInterface* const* (*)(int32_t&);
  auto get = reinterpret_cast<GetCreators>(dlsym(lib, "getCreators"));
  CHECK(get != nullptr && dlsym(lib, "setLoggerFinder") != nullptr, "exported entry points");
  if (!get) return 1;
  int32_t count = 0;
  IPluginCreatorInterface* const* creators = get(count);
  CHECK(count == 2, "two creators");
  std::mt19937 rng(0);
  IPluginCreatorV3One* ca = find(creators, count, "ChannelAttention");
  IPluginCreatorV3One* sg = find(creators, count, "SpatialGate");
  CHECK(ca && sg, "creators by name");
  if (ca) channel_attention(ca, rng);
  if (sg) spatial_gate(sg, rng);
  std::printf(g_failures ? "plugin smoke: %d FAILURES\n" : "plugin smoke: all checks passed\n", g_failures);
  return g_failures ? 1 : 0;
}
