// Entry points of libedgefashion_trt_plugins.so for IPluginRegistry::loadLibrary (Python:
// trt.get_plugin_registry().load_library(path)) and `trtexec --dynamicPlugins=path`: TensorRT looks up
// getCreators and setLoggerFinder. The library needs TensorRT's headers only, not libnvinfer.
#include <atomic>

#include "plugin_common.h"

#if defined(_WIN32)
#define EF_PLUGIN_API __declspec(dllexport)
#else
#define EF_PLUGIN_API __attribute__((visibility("default")))
#endif

namespace edgefashion {
namespace trt {

nvinfer1::IPluginCreatorInterface* channel_attention_creator();
nvinfer1::IPluginCreatorInterface* spatial_gate_creator();

namespace {
std::atomic<nvinfer1::ILoggerFinder*> g_logger_finder{nullptr};
}

void log(nvinfer1::ILogger::Severity severity, const std::string& message) noexcept {
  nvinfer1::ILoggerFinder* finder = g_logger_finder.load();
  nvinfer1::ILogger* logger = finder ? finder->findLogger() : nullptr;
  if (logger != nullptr) logger->log(severity, ("[edgefashion] " + message).c_str());
}

}  // namespace trt
}  // namespace edgefashion

extern "C" EF_PLUGIN_API void setLoggerFinder(nvinfer1::ILoggerFinder* finder) {
  edgefashion::trt::g_logger_finder.store(finder);
}

extern "C" EF_PLUGIN_API nvinfer1::IPluginCreatorInterface* const* getCreators(int32_t& nbCreators) {
  static nvinfer1::IPluginCreatorInterface* const creators[] = {
      edgefashion::trt::channel_attention_creator(),
      edgefashion::trt::spatial_gate_creator(),
  };
  nbCreators = static_cast<int32_t>(sizeof(creators) / sizeof(creators[0]));
  return creators;
}
