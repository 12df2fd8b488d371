// options.h: the command line both example programs share, and the input batch it names.
//
//   PROGRAM MODEL [IMAGE.ppm|IMAGE.pgm ...] [--npy BATCH.npy | --random N] [--out LOGITS.npy]
//           [--save-input X.npy] [--batch N] [--threads T] [--top K] [--quiet] [runtime options]
//
// Images are preprocessed with the model's own input spec (image.h); --npy feeds an already
// normalized float32 (N, C, H, W) batch as is (what `validate` feeds, so outputs compare exactly);
// --random N feeds N seeded standard-normal images (speed checks).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "errors.h"
#include "image.h"
#include "input_spec.h"
#include "npy.h"

namespace resnet_example {

struct Options {
    std::string model;
    std::vector<std::string> images;
    std::string npy, out, save_input;
    long long random = 0;
    long long batch = 8;
    long long threads = 1;
    long long top = 5;
    bool quiet = false;
    std::map<std::string, std::string> runtime;  // the runtime's own --flag value pairs
};

inline long long positive(const std::string& flag, const std::string& value) {
    char* end = nullptr;
    const long long v = std::strtoll(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || v < 1) throw bad_input(flag + " needs a positive integer, got '" + value + "'");
    return v;
}

// `runtime_flags`: the options (each taking a value) this program adds, with their defaults.
inline Options parse_options(int argc, char** argv, const std::string& usage,
                             const std::map<std::string, std::string>& runtime_flags) {
    Options o;
    o.runtime = runtime_flags;
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "-h" || args[0] == "--help") throw bad_input("usage: " + usage);
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&]() -> const std::string& {
            if (i + 1 >= args.size()) throw bad_input(a + " needs a value; usage: " + usage);
            return args[++i];
        };
        if (a == "--npy") o.npy = value();
        else if (a == "--out") o.out = value();
        else if (a == "--save-input") o.save_input = value();
        else if (a == "--random") o.random = positive(a, value());
        else if (a == "--batch") o.batch = positive(a, value());
        else if (a == "--threads") o.threads = positive(a, value());
        else if (a == "--top") o.top = positive(a, value());
        else if (a == "--quiet") o.quiet = true;
        else if (runtime_flags.count(a)) o.runtime[a] = value();
        else if (a.rfind("--", 0) == 0) throw bad_input("unknown option " + a + "; usage: " + usage);
        else if (o.model.empty()) o.model = a;
        else o.images.push_back(a);
    }
    if (o.model.empty()) throw bad_input("usage: " + usage);
    const int sources = !o.images.empty() + !o.npy.empty() + (o.random > 0);
    if (sources != 1) throw bad_input("give images, or --npy BATCH.npy, or --random N (exactly one); usage: " + usage);
    if (o.threads > 256) throw bad_input("--threads " + std::to_string(o.threads) + " is more than 256");
    // Outputs are checked before any work: never an input (links resolved), never a folder, in a
    // folder that exists.
    namespace fs = std::filesystem;
    auto real = [](const std::string& path) {
        std::error_code ec;
        const fs::path resolved = fs::weakly_canonical(fs::absolute(path, ec), ec);
        return ec ? path : resolved.string();
    };
    std::set<std::string> inputs;
    for (const auto& image : o.images) inputs.insert(real(image));
    inputs.insert(real(o.model));
    if (!o.npy.empty()) inputs.insert(real(o.npy));
    for (const auto* output : {&o.out, &o.save_input}) {
        if (output->empty()) continue;
        if (inputs.count(real(*output))) throw bad_input("output '" + *output + "' would overwrite an input");
        std::error_code ec;
        if (fs::is_directory(*output, ec)) throw bad_input("output '" + *output + "' is a folder; name a .npy file");
        const fs::path folder = fs::path(*output).parent_path();
        if (!folder.empty() && !fs::is_directory(folder, ec))
            throw bad_input("the folder of output '" + *output + "' does not exist");
    }
    if (!o.out.empty() && real(o.out) == real(o.save_input)) throw bad_input("--out and --save-input name the same file");
    return o;
}

struct Batch {
    Tensor x;                        // (N, C, H, W) float32, normalized
    std::vector<std::string> names;  // one per image: its file, or "#i"
};

// The inputs the options name, checked against the model's (C, H, W). `spec` is null when the
// model carries no input spec: then images cannot be preprocessed (no size, no mean/std).
inline Batch load_inputs(const Options& o, const InputSpec* spec, long long channels, long long height, long long width,
                         const std::string& model_label) {
    Batch b;
    const std::size_t per = static_cast<std::size_t>(channels * height * width);
    if (!o.images.empty()) {
        if (spec == nullptr)
            throw bad_input(model_label + " carries no resnet-deploy input spec (size, mean/std in its metadata), so images "
                            "cannot be preprocessed for it; export it with resnet-deploy, or pass a normalized batch with --npy");
        b.x.shape = {o.images.size(), static_cast<std::size_t>(channels), static_cast<std::size_t>(height),
                     static_cast<std::size_t>(width)};
        b.x.data.resize(b.x.count());
        for (std::size_t i = 0; i < o.images.size(); ++i) {
            preprocess(read_pnm(o.images[i]), *spec, b.x.data.data() + i * per);
            b.names.push_back(o.images[i]);
        }
    } else if (!o.npy.empty()) {
        b.x = read_npy(o.npy);
        const auto& s = b.x.shape;
        if (s.size() != 4 || s[1] != static_cast<std::size_t>(channels) || s[2] != static_cast<std::size_t>(height) ||
            s[3] != static_cast<std::size_t>(width) || s[0] == 0)
            throw bad_input("'" + o.npy + "' holds shape " + shape_text(s) + "; the model takes (N, " + std::to_string(channels) +
                            ", " + std::to_string(height) + ", " + std::to_string(width) + ") normalized float32");
        for (std::size_t i = 0; i < s[0]; ++i) b.names.push_back("#" + std::to_string(i));
    } else {
        b.x.shape = {static_cast<std::size_t>(o.random), static_cast<std::size_t>(channels), static_cast<std::size_t>(height),
                     static_cast<std::size_t>(width)};
        b.x.data.resize(b.x.count());
        std::mt19937 rng(0);
        std::normal_distribution<float> normal(0.f, 1.f);
        for (auto& v : b.x.data) v = normal(rng);
        for (long long i = 0; i < o.random; ++i) b.names.push_back("random#" + std::to_string(i));
    }
    if (!o.save_input.empty()) write_npy(o.save_input, b.x);
    return b;
}

}  // namespace resnet_example
