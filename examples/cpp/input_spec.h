// input_spec.h: what a model made by resnet-deploy says about its input, read the same way for
// both runtimes: the ONNX model's metadata_props hold it as the JSON string "input_spec", a
// plan's sidecar (<plan>.json) as the object "input_spec". Channels, height, width, the
// per-channel mean/std that training normalized with, the layout, and the class names.
#pragma once

#include <string>
#include <vector>

#include "errors.h"
#include "json_lite.h"

namespace resnet_example {

struct InputSpec {
    long long channels = 0, height = 0, width = 0;
    std::vector<float> mean, stdev;  // per channel: (x / 255 - mean) / stdev
    std::string layout = "NCHW";
    std::vector<std::string> class_names;

    std::string text() const {
        return std::to_string(channels) + "x" + std::to_string(height) + "x" + std::to_string(width);
    }
    std::string label(std::size_t index) const {
        return index < class_names.size() ? class_names[index] : std::to_string(index);
    }
};

// `where` names the file in messages ("model 'r20.onnx'").
inline InputSpec input_spec_from_json(const json_lite::Value& v, const std::string& where) {
    InputSpec s;
    try {
        s.channels = v["channels"].integer();
        s.height = v["height"].integer();
        s.width = v["width"].integer();
        // Absent mean/std mean ImageNet's, as InputSpec.from_dict reads them in Python.
        if (v.has("mean")) for (const auto& m : v["mean"].array) s.mean.push_back(static_cast<float>(m.number));
        else s.mean = {0.485f, 0.456f, 0.406f};
        if (v.has("std")) for (const auto& d : v["std"].array) s.stdev.push_back(static_cast<float>(d.number));
        else s.stdev = {0.229f, 0.224f, 0.225f};
        if (v.has("layout")) s.layout = v["layout"].str();
        if (v.has("class_names"))
            for (const auto& name : v["class_names"].array) s.class_names.push_back(name.str());
    } catch (const std::exception& e) {
        throw bad_input(where + " has a malformed input_spec (" + e.what() + ")");
    }
    if (s.channels < 1 || s.height < 1 || s.width < 1)
        throw bad_input(where + " has a malformed input_spec (size " + s.text() + ")");
    if (s.mean.size() != static_cast<std::size_t>(s.channels) || s.stdev.size() != s.mean.size())
        throw bad_input(where + " has a malformed input_spec (mean/std need one value per channel)");
    for (float d : s.stdev)
        if (!(d > 0.f)) throw bad_input(where + " has a malformed input_spec (std must be positive)");
    if (s.layout != "NCHW") throw bad_input(where + " has layout " + s.layout + "; this example feeds NCHW");
    return s;
}

inline InputSpec input_spec_from_text(const std::string& json, const std::string& where) {
    json_lite::Value v;
    try {
        v = json_lite::parse(json);
    } catch (const std::exception& e) {
        throw bad_input(where + ": its input_spec is not valid JSON (" + e.what() + ")");
    }
    return input_spec_from_json(v, where);
}

}  // namespace resnet_example
