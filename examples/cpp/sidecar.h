// sidecar.h: read the fields of a resnet-deploy plan sidecar (<plan>.json) that a C++ service
// needs, and check them against this machine BEFORE deserializing the plan (a plan runs only
// on the TensorRT version and GPU compute capability it was built for, unless built version-
// or hardware-compatible). No TensorRT dependency, so it is unit-tested on any machine. The
// input spec (size, mean/std, class names) is read as from an ONNX model's metadata (input_spec.h).
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "input_spec.h"
#include "json_lite.h"

namespace plan_sidecar {

struct Sidecar {
    std::string tensorrt_version;      // "10.13.0.35"
    std::string gpu_name;
    std::string compute_capability;    // "8.6"
    bool version_compatible = false;
    std::string hardware_compatibility = "none";
    std::string precision;             // fp32 / fp16 / int8
    std::string input_name;
    std::vector<long long> min_shape, opt_shape, max_shape;  // of the (first) input
    std::vector<std::string> class_names;
    bool has_input_spec = false;  // input_spec with channels/height/width: images can be preprocessed
    resnet_example::InputSpec input_spec;
    std::string sha256;
};

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open '" + path + "'");
    std::ostringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

inline std::vector<long long> ints(const json_lite::Value& array) {
    std::vector<long long> out;
    for (const auto& v : array.array) out.push_back(v.integer());
    return out;
}

inline Sidecar load(const std::string& plan_path) {
    const std::string path = plan_path + ".json";
    json_lite::Value root;
    try {
        root = json_lite::parse(read_file(path));
    } catch (const std::exception& e) {
        throw std::runtime_error("sidecar '" + path + "': " + e.what() + "; rebuild the plan with resnet-deploy build");
    }
    if (!root.has("kind") || root["kind"].str() != "plan")
        throw std::runtime_error("'" + path + "' is not a plan sidecar");
    Sidecar s;
    s.tensorrt_version = root["tensorrt_version"].str();
    s.gpu_name = root["gpu"]["name"].str();
    s.compute_capability = root["gpu"]["compute_capability"].str();
    s.version_compatible = root.has("version_compatible") && root["version_compatible"].truthy();
    if (root.has("hardware_compatibility") && root["hardware_compatibility"].type == json_lite::Value::Type::String)
        s.hardware_compatibility = root["hardware_compatibility"].str();
    s.precision = root["precision"].str();
    const auto& profile = root["profile"];
    if (profile.object.empty()) throw std::runtime_error("sidecar '" + path + "' has no optimization profile");
    s.input_name = profile.object.begin()->first;
    const auto& shapes = profile.object.begin()->second;
    s.min_shape = ints(shapes["min"]);
    s.opt_shape = ints(shapes["opt"]);
    s.max_shape = ints(shapes["max"]);
    if (root.has("input_spec") && root["input_spec"].has("class_names"))
        for (const auto& name : root["input_spec"]["class_names"].array) s.class_names.push_back(name.str());
    if (root.has("input_spec") && root["input_spec"].has("channels")) {
        s.input_spec = resnet_example::input_spec_from_json(root["input_spec"], "sidecar '" + path + "'");
        s.has_input_spec = true;
    }
    if (root.has("sha256")) s.sha256 = root["sha256"].str();
    return s;
}

inline std::vector<int> version_parts(const std::string& text) {
    std::vector<int> parts;
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, '.')) parts.push_back(std::atoi(item.c_str()));
    return parts;
}

// Empty string when the plan can run with TensorRT `runtime_version` on a GPU of compute
// capability `cc`; otherwise the reason, as one line.
inline std::string incompatibility(const Sidecar& s, const std::string& runtime_version, const std::string& cc) {
    auto built = version_parts(s.tensorrt_version), here = version_parts(runtime_version);
    while (built.size() < 3) built.push_back(0);
    while (here.size() < 3) here.push_back(0);
    std::vector<int> b3(built.begin(), built.begin() + 3), h3(here.begin(), here.begin() + 3);
    if (!s.version_compatible && b3 != h3)
        return "the plan was built with TensorRT " + s.tensorrt_version + " but this program uses TensorRT " +
               runtime_version + "; rebuild the plan or build it with --version-compatible";
    if (s.version_compatible && (h3 < b3 || (here[0] != built[0] && !(built[0] == 10 && here[0] == 11))))
        return "the version-compatible plan from TensorRT " + s.tensorrt_version + " cannot run on TensorRT " +
               runtime_version;
    auto cc_parts = version_parts(cc);
    if (s.hardware_compatibility == "ampere_plus") {
        if (cc_parts.empty() || cc_parts[0] < 8)
            return "the plan needs compute capability >= 8.0 (Ampere or newer); this GPU has " + cc;
    } else if (s.compute_capability != cc) {
        return "the plan was built for a " + s.gpu_name + " (compute capability " + s.compute_capability +
               ") but this GPU has compute capability " + cc + "; rebuild the plan on this GPU";
    }
    return "";
}

}  // namespace plan_sidecar
