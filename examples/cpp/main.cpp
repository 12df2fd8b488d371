// resnet_infer PLAN [BATCH] [INPUT.bin]
//
// Loads a TensorRT plan built by `resnet-deploy build`, checks its sidecar (PLAN.json) against
// the TensorRT this program links and the GPU it runs on BEFORE deserializing, runs one batch
// (random inputs, or INPUT.bin: BATCH*C*H*W float32, already normalized) and prints the top-5
// classes of each image. Written against the TensorRT 10.x/11.x C++ API (enqueueV3, named
// tensors, no destroy()); the plan is checked against the libnvinfer loaded at run time
// (getInferLibVersion), every TensorRT object and call is checked. Exit codes as the Python
// CLI: 1 runtime failure, 2 bad input or incompatible plan, 3 no GPU or a mismatched library.
#include <NvInfer.h>
#include <NvInferVersion.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "sidecar.h"

namespace {

class Logger : public nvinfer1::ILogger {
public:
    void log(Severity severity, const char* msg) noexcept override {
        if (severity <= Severity::kWARNING) std::cerr << "TensorRT: " << msg << "\n";
    }
};

#define CUDA_CHECK(call)                                                                          \
    do {                                                                                          \
        cudaError_t err_ = (call);                                                                \
        if (err_ != cudaSuccess) {                                                                \
            std::cerr << "error: " #call " failed: " << cudaGetErrorString(err_) << "\n";         \
            return err_ == cudaErrorNoDevice || err_ == cudaErrorInsufficientDriver ? 3 : 1;      \
        }                                                                                         \
    } while (0)

// Device memory owned by one object, freed on every path.
struct DeviceBuffer {
    void* ptr = nullptr;
    ~DeviceBuffer() { if (ptr) cudaFree(ptr); }
};

std::size_t element_size(nvinfer1::DataType t) {
    switch (t) {
        case nvinfer1::DataType::kFLOAT: case nvinfer1::DataType::kINT32: return 4;
        case nvinfer1::DataType::kHALF: case nvinfer1::DataType::kBF16: return 2;
        case nvinfer1::DataType::kINT64: return 8;
        default: return 1;
    }
}

// The version of the libnvinfer loaded at run time (not the headers this was compiled with: a
// plan must match the library that deserializes it). (major * 100 + minor) * 100 + patch.
std::string runtime_version() {
    const int32_t v = getInferLibVersion();
    return std::to_string(v / 10000) + "." + std::to_string((v / 100) % 100) + "." + std::to_string(v % 100);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: resnet_infer PLAN [BATCH] [INPUT.bin]\n";
        return 2;
    }
    const std::string plan_path = argv[1];
    plan_sidecar::Sidecar sidecar;
    try {
        sidecar = plan_sidecar::load(plan_path);
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 2;
    }
    const long long batch = argc > 2 ? std::atoll(argv[2]) : sidecar.opt_shape.at(0);
    if (batch < sidecar.min_shape.at(0) || batch > sidecar.max_shape.at(0)) {
        std::cerr << "error: batch " << batch << " is outside the plan's profile " << sidecar.min_shape[0] << ".."
                  << sidecar.max_shape[0] << "\n";
        return 2;
    }

    // The loaded library must have the major version the headers describe (the ABI changes across
    // majors); the plan is then checked against the loaded library's exact version below.
    if (getInferLibVersion() / 10000 != NV_TENSORRT_MAJOR) {
        std::cerr << "error: compiled against TensorRT " << NV_TENSORRT_MAJOR << ".x headers but libnvinfer "
                  << runtime_version() << " was loaded; rebuild this program against the installed TensorRT\n";
        return 3;
    }
    int device = 0;
    CUDA_CHECK(cudaSetDevice(device));
    cudaDeviceProp prop{};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    const std::string cc = std::to_string(prop.major) + "." + std::to_string(prop.minor);
    const std::string problem = plan_sidecar::incompatibility(sidecar, runtime_version(), cc);
    if (!problem.empty()) {
        std::cerr << "error: plan '" << plan_path << "': " << problem << "\n";
        return 2;
    }

    Logger logger;
    std::unique_ptr<nvinfer1::IRuntime> runtime{nvinfer1::createInferRuntime(logger)};
    if (!runtime) {
        std::cerr << "error: TensorRT could not create a runtime (see its log above)\n";
        return 1;
    }
    if (sidecar.version_compatible) runtime->setEngineHostCodeAllowed(true);
    const std::string blob = plan_sidecar::read_file(plan_path);
    std::unique_ptr<nvinfer1::ICudaEngine> engine{runtime->deserializeCudaEngine(blob.data(), blob.size())};
    if (!engine) {
        std::cerr << "error: TensorRT could not deserialize '" << plan_path << "'\n";
        return 2;
    }
    // One context per thread in a service; this example runs one batch on one stream.
    std::unique_ptr<nvinfer1::IExecutionContext> context{engine->createExecutionContext()};
    if (!context) {
        std::cerr << "error: TensorRT could not create an execution context (out of GPU memory?)\n";
        return 1;
    }
    cudaStream_t stream;
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    struct StreamGuard { cudaStream_t s; ~StreamGuard() { cudaStreamDestroy(s); } } stream_guard{stream};
    if (!context->setOptimizationProfileAsync(0, stream)) {
        std::cerr << "error: setOptimizationProfileAsync failed\n";
        return 1;
    }

    nvinfer1::Dims input_dims{};
    input_dims.nbDims = static_cast<int32_t>(sidecar.min_shape.size());
    input_dims.d[0] = batch;
    for (int i = 1; i < input_dims.nbDims; ++i) input_dims.d[i] = sidecar.min_shape[i];
    if (!context->setInputShape(sidecar.input_name.c_str(), input_dims)) {
        std::cerr << "error: setInputShape failed for '" << sidecar.input_name << "'\n";
        return 2;
    }

    std::vector<DeviceBuffer> buffers(engine->getNbIOTensors());
    std::string output_name;
    std::vector<float> input;
    std::size_t output_count = 0, classes = 0;
    for (int32_t i = 0; i < engine->getNbIOTensors(); ++i) {
        const char* name = engine->getIOTensorName(i);
        const nvinfer1::Dims dims = context->getTensorShape(name);
        std::size_t count = 1;
        for (int d = 0; d < dims.nbDims; ++d) count *= static_cast<std::size_t>(dims.d[d]);
        CUDA_CHECK(cudaMalloc(&buffers[i].ptr, count * element_size(engine->getTensorDataType(name))));
        if (!context->setTensorAddress(name, buffers[i].ptr)) {
            std::cerr << "error: TensorRT refused the address of tensor '" << name << "'\n";
            return 1;
        }
        if (engine->getTensorIOMode(name) == nvinfer1::TensorIOMode::kINPUT) {
            if (engine->getTensorDataType(name) != nvinfer1::DataType::kFLOAT) {
                std::cerr << "error: this example feeds float32 inputs; '" << name << "' is another type\n";
                return 2;
            }
            input.resize(count);
            if (argc > 3) {
                const std::string raw = plan_sidecar::read_file(argv[3]);
                if (raw.size() != count * sizeof(float)) {
                    std::cerr << "error: " << argv[3] << " has " << raw.size() << " bytes, expected " << count * 4 << "\n";
                    return 2;
                }
                std::copy(raw.begin(), raw.end(), reinterpret_cast<char*>(input.data()));
            } else {
                std::mt19937 rng(0);
                std::normal_distribution<float> normal(0.f, 1.f);
                for (auto& v : input) v = normal(rng);
            }
            CUDA_CHECK(cudaMemcpyAsync(buffers[i].ptr, input.data(), count * sizeof(float), cudaMemcpyHostToDevice, stream));
        } else if (output_name.empty()) {
            output_name = name;
            output_count = count;
            classes = static_cast<std::size_t>(dims.d[dims.nbDims - 1]);
            if (engine->getTensorDataType(name) != nvinfer1::DataType::kFLOAT) {
                std::cerr << "error: this example reads float32 logits; '" << name << "' is another type\n";
                return 2;
            }
        }
    }
    if (!context->enqueueV3(stream)) {
        std::cerr << "error: enqueueV3 failed\n";
        return 1;
    }
    std::vector<float> logits(output_count);
    for (int32_t i = 0; i < engine->getNbIOTensors(); ++i)
        if (output_name == engine->getIOTensorName(i))
            CUDA_CHECK(cudaMemcpyAsync(logits.data(), buffers[i].ptr, output_count * sizeof(float),
                                       cudaMemcpyDeviceToHost, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));

    std::cout << "plan " << plan_path << ": " << sidecar.precision << ", TensorRT " << runtime_version() << ", "
              << prop.name << " (" << cc << ")\n";
    for (long long n = 0; n < batch; ++n) {
        const float* row = logits.data() + n * classes;
        std::vector<std::size_t> order(classes);
        std::iota(order.begin(), order.end(), 0);
        const std::size_t k = std::min<std::size_t>(5, classes);
        std::partial_sort(order.begin(), order.begin() + k, order.end(),
                          [row](std::size_t a, std::size_t b) { return row[a] > row[b]; });
        std::cout << "image " << n << ":";
        for (std::size_t j = 0; j < k; ++j) {
            const std::size_t c = order[j];
            const std::string label = c < sidecar.class_names.size() ? sidecar.class_names[c] : std::to_string(c);
            std::printf(" %s (%.3f)", label.c_str(), row[c]);
        }
        std::cout << "\n";
    }
    return 0;
}
