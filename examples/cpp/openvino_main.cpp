// resnet_infer_openvino MODEL.onnx [IMAGES... | --npy BATCH.npy | --random N] [options]
//
// Embeds an ONNX model made by resnet-deploy (FP32, FP16, or INT8 Q/DQ, either layout) with
// OpenVINO's C++ API, the way a CPU service would:
//   * read the model once (ov::Core::read_model); its metadata_props arrive as the model's
//     rt_info under "framework" (OpenVINO's ONNX frontend keeps them), so the input spec
//     (size, mean/std, class names) is read from the very file being compiled, with no ONNX or
//     protobuf library;
//   * compile it with the settings of the Python runner (resnet_deploy/backends/openvino_runner.py):
//     LATENCY hint and f32 inference precision, so the CPU plugin never picks bf16 on its own;
//     the logits then equal the Python runner's on the same inputs;
//   * one ov::InferRequest per thread (a request holds its tensors: sharing one between threads
//     mixes their data), the compiled model shared;
//   * print top-K per image with class names, and timings; --out writes the logits as .npy.
// Options beyond the shared ones (options.h): --device CPU, --hint latency|throughput,
// --inference-precision f32|bf16|f16|default, --infer-threads N (OpenVINO's thread cap).
// Exit codes as the Python CLI: 1 run-time failure, 2 bad input, 3 missing device.
#include <openvino/core/version.hpp>
#include <openvino/runtime/core.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "batches.h"
#include "errors.h"
#include "input_spec.h"
#include "npy.h"
#include "options.h"
#include "report.h"

using namespace resnet_example;

namespace {

const char* kUsage =
    "resnet_infer_openvino MODEL.onnx [IMAGE.ppm|.pgm ...] [--npy BATCH.npy | --random N] [--out LOGITS.npy] "
    "[--save-input X.npy] [--batch N] [--threads T] [--top K] [--quiet] [--device CPU] [--hint latency|throughput] "
    "[--inference-precision f32|bf16|f16|default] [--infer-threads N]";

// OpenVINO's messages start with "Exception from src/...cpp:NN:" lines; the last line that is
// not such a location (or a bracketed tag) says what went wrong.
std::string ov_message(const std::exception& e) {
    const std::string text = e.what();
    std::string best;
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string line = first_line(text.substr(start, end - start));
        if (!line.empty() && line.rfind("Exception from", 0) != 0 && line.rfind("Check '", 0) != 0 && line.find_first_not_of(" \t") != std::string::npos)
            best = line;
        start = end + 1;
    }
    return best.empty() ? first_line(text) : best;
}

// An ONNX metadata_props value: OpenVINO's ONNX frontend (2023.0 and later) puts them in the
// model's rt_info under "framework"; the top level is looked at too, in case a release moves them.
std::string framework_prop(const std::shared_ptr<ov::Model>& model, const std::string& key) {
    if (model->has_rt_info("framework", key)) return model->get_rt_info<std::string>("framework", key);
    if (model->has_rt_info(key)) return model->get_rt_info<std::string>(key);
    return "";
}

// Refuse what is plainly not an ONNX model before OpenVINO reads it (its frontends would accept an
// IR .xml or a TensorFlow file, and its messages are long).
void check_model_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) throw bad_input("cannot open model '" + path + "'");
    if (in.tellg() == 0) throw bad_input("model '" + path + "' is empty");
    if (path.size() < 5 || path.substr(path.size() - 5) != ".onnx")
        throw bad_input("'" + path + "' is not an ONNX model (.onnx); this example loads the ONNX models resnet-deploy makes");
    // An ONNX file is a ModelProto, serialized in field order: it opens with field 1, ir_version (tag 0x08).
    in.seekg(0);
    if (in.get() != 0x08) throw bad_input("'" + path + "' is not an ONNX model (it does not start like an ONNX protobuf)");
}

// The compile settings: by default the Python runner's (see the top of this file). Checked
// before any work, as usage errors.
ov::AnyMap compile_config(const Options& o) {
    ov::AnyMap config;
    const std::string& hint = o.runtime.at("--hint");
    if (hint == "latency") config[ov::hint::performance_mode.name()] = ov::hint::PerformanceMode::LATENCY;
    else if (hint == "throughput") config[ov::hint::performance_mode.name()] = ov::hint::PerformanceMode::THROUGHPUT;
    else throw bad_input("--hint must be latency or throughput, got '" + hint + "'");
    const std::string& precision = o.runtime.at("--inference-precision");
    if (precision != "f32" && precision != "bf16" && precision != "f16" && precision != "default")
        throw bad_input("--inference-precision must be f32, bf16, f16 or default, got '" + precision + "'");
    if (precision != "default" && o.runtime.at("--device") == "CPU")
        config[ov::hint::inference_precision.name()] = ov::element::Type(precision);
    if (!o.runtime.at("--infer-threads").empty())
        config[ov::inference_num_threads.name()] = static_cast<int>(positive("--infer-threads", o.runtime.at("--infer-threads")));
    return config;
}

}  // namespace

int main(int argc, char** argv) {
    return run_main([&]() {
        const Options o = parse_options(argc, argv, kUsage,
                                        {{"--device", "CPU"}, {"--hint", "latency"}, {"--inference-precision", "f32"},
                                         {"--infer-threads", ""}});
        const ov::AnyMap config = compile_config(o);
        const std::string& device = o.runtime.at("--device");
        const std::string& hint = o.runtime.at("--hint");
        const std::string& precision = o.runtime.at("--inference-precision");
        const auto load_start = std::chrono::steady_clock::now();
        check_model_file(o.model);
        const std::string label = "model '" + o.model + "'";

        ov::Core core;
        bool available = false;
        for (const auto& d : core.get_available_devices()) available = available || d.rfind(device, 0) == 0;
        if (!available && device != "AUTO") throw missing("OpenVINO device '" + device + "' is not available here");
        std::shared_ptr<ov::Model> model;
        try {
            model = core.read_model(o.model);
        } catch (const std::exception& e) {
            throw bad_input("'" + o.model + "' is not an ONNX model OpenVINO can read (truncated or not ONNX?): " + ov_message(e));
        }
        if (model->inputs().size() != 1 || model->outputs().empty())
            throw bad_input(label + " has " + std::to_string(model->inputs().size()) + " inputs; this example feeds one image batch");

        // Metadata: resnet-deploy writes producer, architecture, precision and input_spec (JSON).
        const bool ours = framework_prop(model, "producer") == "resnet-deploy";
        const std::string spec_json = framework_prop(model, "input_spec");
        std::unique_ptr<InputSpec> spec;
        if (!spec_json.empty()) spec = std::make_unique<InputSpec>(input_spec_from_text(spec_json, label));

        const ov::PartialShape shape = model->input().get_partial_shape();
        if (shape.rank().is_dynamic() || shape.rank().get_length() != 4 || shape[1].is_dynamic() || shape[2].is_dynamic() ||
            shape[3].is_dynamic())
            throw bad_input(label + " has input shape " + shape.to_string() + "; this example feeds (N, C, H, W) with fixed C, H, W");
        if (model->input().get_element_type() != ov::element::f32)
            throw bad_input(label + " takes " + model->input().get_element_type().get_type_name() +
                            " inputs; this example feeds float32 (convert to FP16 keeping FP32 inputs and outputs)");
        const long long channels = shape[1].get_length(), height = shape[2].get_length(), width = shape[3].get_length();
        if (spec && (spec->channels != channels || spec->height != height || spec->width != width))
            throw bad_input(label + ": its metadata says " + spec->text() + " but its graph takes " + std::to_string(channels) +
                            "x" + std::to_string(height) + "x" + std::to_string(width));
        InputSpec shown = spec ? *spec : InputSpec{channels, height, width, {}, {}, "NCHW", {}};

        const Batch inputs = load_inputs(o, spec.get(), channels, height, width, label);
        const std::size_t samples = inputs.x.shape[0];
        std::size_t batch = static_cast<std::size_t>(o.batch);
        if (shape[0].is_static()) {  // resnet-deploy exports a dynamic batch; a fixed one is used as is
            batch = static_cast<std::size_t>(shape[0].get_length());
            if (samples % batch != 0)
                throw bad_input(label + " has a fixed batch of " + std::to_string(batch) + "; give a multiple of it as inputs");
        }

        ov::CompiledModel compiled;
        try {
            compiled = core.compile_model(model, device, config);
        } catch (const std::exception& e) {
            throw failed("OpenVINO could not compile " + label + " for " + device + ": " + ov_message(e));
        }
        const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - load_start).count();

        std::size_t classes = 0;
        {
            ov::PartialShape out = compiled.output(0).get_partial_shape();
            if (out.rank().is_dynamic() || out.rank().get_length() != 2 || out[1].is_dynamic())
                throw bad_input(label + " has output shape " + out.to_string() + "; this example reads (N, classes) logits");
            classes = static_cast<std::size_t>(out[1].get_length());
        }
        if (!spec_json.empty() && !shown.class_names.empty() && shown.class_names.size() != classes)
            throw bad_input(label + ": its metadata names " + std::to_string(shown.class_names.size()) + " classes but it outputs " +
                            std::to_string(classes));

        std::vector<float> logits;
        const std::size_t per = static_cast<std::size_t>(channels * height * width);
        const Timings timings = run_batches(samples, batch, static_cast<std::size_t>(o.threads), classes, logits,
                                            [&](std::size_t) {
            auto request = std::make_shared<ov::InferRequest>(compiled.create_infer_request());
            return [&, request](std::size_t start, std::size_t count, float* out) {
                // Wrap the caller's memory: no copy in; the request reads it during infer().
                ov::Tensor input(ov::element::f32, ov::Shape{count, static_cast<std::size_t>(channels),
                                                             static_cast<std::size_t>(height), static_cast<std::size_t>(width)},
                                 const_cast<float*>(inputs.x.data.data() + start * per));
                request->set_input_tensor(input);
                request->infer();
                const ov::Tensor result = request->get_output_tensor(0);
                if (result.get_element_type() != ov::element::f32 || result.get_size() != count * classes)
                    throw failed("OpenVINO returned " + result.get_shape().to_string() + " " +
                                 result.get_element_type().get_type_name() + " logits for a batch of " + std::to_string(count));
                std::copy(result.data<const float>(), result.data<const float>() + count * classes, out);
            };
        });

        if (!o.out.empty()) write_npy(o.out, Tensor{{samples, classes}, logits});
        // An INT8 CPU model is made for one CPU class (docs/precision.md); the Python runners warn
        // when it runs on the other one: here it is shown, for the operator to compare.
        const std::string isa = framework_prop(model, "int8_isa");
        const ov::Version version = ov::get_openvino_version();
        std::printf("model %s: %s, %s%s, input %s, %zu classes%s; OpenVINO %s on %s (hint %s, inference precision %s)\n",
                    o.model.c_str(), ours ? framework_prop(model, "architecture").c_str() : "not made by resnet-deploy",
                    ours ? framework_prop(model, "precision").c_str() : "precision unknown",
                    isa.empty() ? "" : (" (made for " + isa + " CPUs)").c_str(), shown.text().c_str(), classes,
                    spec ? "" : " (no input spec in its metadata)", version.buildNumber, device.c_str(), hint.c_str(),
                    precision.c_str());
        if (!o.quiet) print_top(logits, classes, inputs.names, shown, static_cast<std::size_t>(o.top));
        print_timings(timings, load_ms);
        if (!o.out.empty()) std::printf("logits: %s (%zu x %zu float32)\n", o.out.c_str(), samples, classes);
        return 0;
    });
}
