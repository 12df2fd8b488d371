// resnet_infer_tensorrt PLAN [IMAGES... | --npy BATCH.npy | --random N] [options]
//
// Embeds a TensorRT plan built by `resnet-deploy build`, the way a GPU service would; the same
// program as resnet_infer_openvino (options, input spec, preprocessing and output are shared:
// options.h, input_spec.h, image.h, npy.h, batches.h, report.h), with TensorRT as the runtime:
//   * read the plan's sidecar (PLAN.json: sidecar.h) and check it against the libnvinfer loaded
//     at run time (getInferLibVersion, not the headers) and the GPU BEFORE deserializing;
//   * deserialize once; one IExecutionContext, one CUDA stream and one set of device buffers per
//     thread (a context is not thread-safe; the engine is), every context on profile 0;
//   * per batch: setInputShape, copy in, enqueueV3, copy out, synchronize the thread's stream;
//   * print top-K per image with the sidecar's class names, and timings; --out writes the logits.
// Written against the TensorRT 10.x/11.x C++ API (named tensors, enqueueV3, no destroy());
// every TensorRT object and call is checked. Options beyond the shared ones: --gpu INDEX.
// Exit codes as the Python CLI: 1 run-time failure, 2 bad input or incompatible plan, 3 no GPU
// or a mismatched library.
#include <NvInfer.h>
#include <NvInferVersion.h>
#include <cuda_runtime_api.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "batches.h"
#include "errors.h"
#include "input_spec.h"
#include "npy.h"
#include "options.h"
#include "report.h"
#include "sidecar.h"

using namespace resnet_example;

namespace {

const char* kUsage =
    "resnet_infer_tensorrt PLAN [IMAGE.ppm|.pgm ...] [--npy BATCH.npy | --random N] [--out LOGITS.npy] "
    "[--save-input X.npy] [--batch N] [--threads T] [--top K] [--quiet] [--gpu INDEX]";

class Logger : public nvinfer1::ILogger {
public:
    void log(Severity severity, const char* msg) noexcept override {
        if (severity <= Severity::kWARNING) std::fprintf(stderr, "TensorRT: %s\n", msg);
    }
};

void cuda_check(cudaError_t err, const char* what) {
    if (err == cudaSuccess) return;
    const std::string message = std::string(what) + " failed: " + cudaGetErrorString(err);
    if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver || err == cudaErrorInvalidDevice) throw missing(message);
    throw failed(message);
}

// Device memory owned by one object, freed on every path.
struct DeviceBuffer {
    void* ptr = nullptr;
    explicit DeviceBuffer(std::size_t bytes) { cuda_check(cudaMalloc(&ptr, bytes), "cudaMalloc"); }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    ~DeviceBuffer() { if (ptr) cudaFree(ptr); }
};

struct Stream {
    cudaStream_t handle = nullptr;
    Stream() { cuda_check(cudaStreamCreateWithFlags(&handle, cudaStreamNonBlocking), "cudaStreamCreate"); }
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
    ~Stream() { if (handle) cudaStreamDestroy(handle); }
};

// The version of the libnvinfer loaded at run time (not the headers this was compiled with: a
// plan must match the library that deserializes it). (major * 100 + minor) * 100 + patch.
std::string runtime_version() {
    const int32_t v = getInferLibVersion();
    return std::to_string(v / 10000) + "." + std::to_string((v / 100) % 100) + "." + std::to_string(v % 100);
}

// What one thread owns: its context, its stream, its device buffers (sized for `batch`).
struct ThreadState {
    std::unique_ptr<nvinfer1::IExecutionContext> context;
    Stream stream;
    std::unique_ptr<DeviceBuffer> input, output;
};

}  // namespace

int main(int argc, char** argv) {
    return run_main([&]() {
        const Options o = parse_options(argc, argv, kUsage, {{"--gpu", "0"}});
        const auto load_start = std::chrono::steady_clock::now();
        const std::string label = "plan '" + o.model + "'";
        plan_sidecar::Sidecar sidecar;
        try {
            sidecar = plan_sidecar::load(o.model);
        } catch (const ExitError&) {
            throw;
        } catch (const std::exception& e) {
            throw bad_input(e.what());
        }

        // The loaded library must have the major version the headers describe (the ABI changes across
        // majors); the plan is then checked against the loaded library's exact version.
        if (getInferLibVersion() / 10000 != NV_TENSORRT_MAJOR)
            throw missing("compiled against TensorRT " + std::to_string(NV_TENSORRT_MAJOR) + ".x headers but libnvinfer " +
                          runtime_version() + " was loaded; rebuild this program against the installed TensorRT");
        const std::string& gpu_text = o.runtime.at("--gpu");
        if (gpu_text.empty() || gpu_text.find_first_not_of("0123456789") != std::string::npos || gpu_text.size() > 4)
            throw bad_input("--gpu needs a device index (0, 1, ...), got '" + gpu_text + "'");
        const int gpu = std::stoi(gpu_text);
        cuda_check(cudaSetDevice(gpu), "cudaSetDevice");
        cudaDeviceProp prop{};
        cuda_check(cudaGetDeviceProperties(&prop, gpu), "cudaGetDeviceProperties");
        const std::string cc = std::to_string(prop.major) + "." + std::to_string(prop.minor);
        const std::string problem = plan_sidecar::incompatibility(sidecar, runtime_version(), cc);
        if (!problem.empty()) throw bad_input(label + ": " + problem);

        Logger logger;
        std::unique_ptr<nvinfer1::IRuntime> runtime{nvinfer1::createInferRuntime(logger)};
        if (!runtime) throw failed("TensorRT could not create a runtime (see its log above)");
        if (sidecar.version_compatible) runtime->setEngineHostCodeAllowed(true);
        const std::string blob = plan_sidecar::read_file(o.model);
        std::unique_ptr<nvinfer1::ICudaEngine> engine{runtime->deserializeCudaEngine(blob.data(), blob.size())};
        if (!engine) throw bad_input("TensorRT could not deserialize " + label);

        // One float32 input (N, C, H, W) and one float32 output (N, classes).
        std::string input_name, output_name;
        for (int32_t i = 0; i < engine->getNbIOTensors(); ++i) {
            const char* name = engine->getIOTensorName(i);
            const bool is_input = engine->getTensorIOMode(name) == nvinfer1::TensorIOMode::kINPUT;
            if (engine->getTensorDataType(name) != nvinfer1::DataType::kFLOAT)
                throw bad_input(label + ": tensor '" + name + "' is not float32; this example feeds and reads float32");
            std::string& slot = is_input ? input_name : output_name;
            if (!slot.empty()) throw bad_input(label + " has several " + (is_input ? "inputs" : "outputs") + "; this example runs classifiers");
            slot = name;
        }
        if (input_name.empty() || output_name.empty()) throw bad_input(label + " has no input or no output tensor");
        if (input_name != sidecar.input_name)
            throw bad_input(label + ": its sidecar's profile is for '" + sidecar.input_name + "' but the engine's input is '" +
                            input_name + "'; the sidecar belongs to another plan");
        const nvinfer1::Dims in_dims = engine->getTensorShape(input_name.c_str());
        const nvinfer1::Dims out_dims = engine->getTensorShape(output_name.c_str());
        if (in_dims.nbDims != 4 || in_dims.d[1] < 1 || in_dims.d[2] < 1 || in_dims.d[3] < 1 || out_dims.nbDims != 2 || out_dims.d[1] < 1)
            throw bad_input(label + " does not take (N, C, H, W) and give (N, classes)");
        const long long channels = in_dims.d[1], height = in_dims.d[2], width = in_dims.d[3];
        const std::size_t classes = static_cast<std::size_t>(out_dims.d[1]);
        const InputSpec* spec = sidecar.has_input_spec ? &sidecar.input_spec : nullptr;
        if (spec && (spec->channels != channels || spec->height != height || spec->width != width))
            throw bad_input(label + ": its sidecar says " + spec->text() + " but the engine takes " + std::to_string(channels) + "x" +
                            std::to_string(height) + "x" + std::to_string(width));
        InputSpec shown = spec ? *spec : InputSpec{channels, height, width, {}, {}, "NCHW", sidecar.class_names};

        const Batch inputs = load_inputs(o, spec, channels, height, width, label);
        const std::size_t samples = inputs.x.shape[0];
        const auto min_batch = static_cast<std::size_t>(sidecar.min_shape.at(0)), max_batch = static_cast<std::size_t>(sidecar.max_shape.at(0));
        const std::size_t batch = std::min({static_cast<std::size_t>(o.batch), max_batch, samples});
        const std::size_t tail = samples % batch;
        if (batch < min_batch || (tail != 0 && tail < min_batch))
            throw bad_input(label + "'s profile takes batches of " + std::to_string(min_batch) + ".." + std::to_string(max_batch) +
                            "; " + std::to_string(samples) + " inputs in batches of " + std::to_string(batch) + " leave a smaller one");
        const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - load_start).count();

        const std::size_t per = static_cast<std::size_t>(channels * height * width);
        std::vector<float> logits;
        std::mutex create;  // contexts are created one at a time; each is then used by its own thread only
        const Timings timings = run_batches(samples, batch, static_cast<std::size_t>(o.threads), classes,
                                            logits, [&](std::size_t) {
            cuda_check(cudaSetDevice(gpu), "cudaSetDevice");  // the current device is per thread
            auto state = std::make_shared<ThreadState>();
            {
                std::lock_guard<std::mutex> lock(create);
                state->context.reset(engine->createExecutionContext());
            }
            if (!state->context) throw failed("TensorRT could not create an execution context (out of GPU memory?)");
            if (!state->context->setOptimizationProfileAsync(0, state->stream.handle)) throw failed("setOptimizationProfileAsync failed");
            state->input = std::make_unique<DeviceBuffer>(batch * per * sizeof(float));
            state->output = std::make_unique<DeviceBuffer>(batch * classes * sizeof(float));
            if (!state->context->setTensorAddress(input_name.c_str(), state->input->ptr) ||
                !state->context->setTensorAddress(output_name.c_str(), state->output->ptr))
                throw failed("TensorRT refused a tensor address");
            return [&, state](std::size_t start, std::size_t count, float* out) {
                nvinfer1::Dims dims = in_dims;
                dims.d[0] = static_cast<int64_t>(count);
                if (!state->context->setInputShape(input_name.c_str(), dims))
                    throw bad_input("setInputShape refused a batch of " + std::to_string(count));
                cuda_check(cudaMemcpyAsync(state->input->ptr, inputs.x.data.data() + start * per, count * per * sizeof(float),
                                           cudaMemcpyHostToDevice, state->stream.handle), "cudaMemcpyAsync (input)");
                if (!state->context->enqueueV3(state->stream.handle)) throw failed("enqueueV3 failed (see TensorRT's log above)");
                cuda_check(cudaMemcpyAsync(out, state->output->ptr, count * classes * sizeof(float), cudaMemcpyDeviceToHost,
                                           state->stream.handle), "cudaMemcpyAsync (logits)");
                cuda_check(cudaStreamSynchronize(state->stream.handle), "cudaStreamSynchronize");
            };
        });

        if (!o.out.empty()) write_npy(o.out, Tensor{{samples, classes}, logits});
        std::printf("plan %s: %s, input %s, %zu classes%s; TensorRT %s on %s (compute capability %s)\n", o.model.c_str(),
                    sidecar.precision.c_str(), shown.text().c_str(), classes, spec ? "" : " (no input spec in its sidecar)",
                    runtime_version().c_str(), prop.name, cc.c_str());
        if (!o.quiet) print_top(logits, classes, inputs.names, shown, static_cast<std::size_t>(o.top));
        print_timings(timings, load_ms);
        if (!o.out.empty()) std::printf("logits: %s (%zu x %zu float32)\n", o.out.c_str(), samples, classes);
        return 0;
    });
}
