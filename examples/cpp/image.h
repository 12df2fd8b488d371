// image.h: an image file -> the normalized float32 CHW tensor a resnet-deploy model expects,
// computed exactly as the Python side computes it for an image file (the `imagefolder`
// evaluation recipe, resnet_deploy/data/transforms.py: imagenet_eval + normalize):
//   1. decode to 8-bit (this example reads binary PPM (P6, RGB) and PGM (P5, grey), maxval 255:
//      formats that need no library; a service decodes JPEG/PNG with its own decoder into the
//      same RGB8/L8 buffer and calls preprocess());
//   2. convert to the model's channels as PIL does (grey -> RGB copies the value; RGB -> grey is
//      ITU-R 601-2 luma in PIL's fixed point);
//   3. resize the shorter side to round(size * 256 / 224), the long side truncated, with PIL's
//      bilinear filter (antialiased when shrinking) in PIL's own fixed-point arithmetic, so the
//      8-bit result is the same byte for byte;
//   4. centre-crop size x size (torchvision's offsets), scale by 1/255, (x - mean) / std.
// tests/test_cpp_openvino.py checks the tensor against Python's on odd sizes, both directions.
#pragma once

#include <cctype>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "errors.h"
#include "input_spec.h"

namespace resnet_example {

struct Image8 {
    int width = 0, height = 0, channels = 0;  // interleaved rows, channels 1 (grey) or 3 (RGB)
    std::vector<std::uint8_t> pixels;
    std::uint8_t at(int x, int y, int c) const { return pixels[(static_cast<std::size_t>(y) * width + x) * channels + c]; }
};

// Binary PPM (P6) or PGM (P5) with maxval 255; comments allowed in the header.
inline Image8 read_pnm(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw bad_input("cannot open '" + path + "'");
    std::string magic(2, '\0');
    if (!in.read(magic.data(), 2) || (magic != "P6" && magic != "P5"))
        throw bad_input("'" + path + "' is not a binary PPM/PGM image (P6/P5); convert it, e.g. "
                        "PIL: Image.open(f).convert('RGB').save('x.ppm'), or pass a normalized batch with --npy");
    auto number = [&](const char* what) {
        int c = in.get();
        while (c != EOF && (std::isspace(c) || c == '#')) {
            if (c == '#') while (c != EOF && c != '\n') c = in.get();
            c = in.get();
        }
        long long value = 0;
        bool any = false;
        while (c != EOF && std::isdigit(c)) {
            value = value * 10 + (c - '0');
            any = true;
            if (value > (1 << 20)) throw bad_input("'" + path + "' has an implausible " + std::string(what));
            c = in.get();
        }
        if (!any || c == EOF || !std::isspace(c)) throw bad_input("'" + path + "' has a malformed header (" + what + ")");
        return static_cast<int>(value);
    };
    Image8 image;
    image.channels = magic == "P6" ? 3 : 1;
    image.width = number("width");
    image.height = number("height");
    const int maxval = number("maxval");
    if (image.width < 1 || image.height < 1) throw bad_input("'" + path + "' has no pixels");
    if (maxval != 255) throw bad_input("'" + path + "' has maxval " + std::to_string(maxval) + "; this example reads 8-bit images (maxval 255)");
    image.pixels.resize(static_cast<std::size_t>(image.width) * image.height * image.channels);
    in.read(reinterpret_cast<char*>(image.pixels.data()), static_cast<std::streamsize>(image.pixels.size()));
    if (static_cast<std::size_t>(in.gcount()) != image.pixels.size())
        throw bad_input("'" + path + "' is truncated: " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                        " needs " + std::to_string(image.pixels.size()) + " bytes of pixels, found " + std::to_string(in.gcount()));
    return image;
}

// PIL's Image.convert("RGB") from L, and convert("L") from RGB (Convert.c, L24 rounding).
inline Image8 to_channels(const Image8& in, int channels) {
    if (in.channels == channels) return in;
    if (channels != 1 && channels != 3) throw bad_input("images feed 1- or 3-channel models; this one has " + std::to_string(channels));
    Image8 out{in.width, in.height, channels, {}};
    const std::size_t n = static_cast<std::size_t>(in.width) * in.height;
    out.pixels.resize(n * channels);
    for (std::size_t i = 0; i < n; ++i) {
        if (channels == 3) {
            out.pixels[i * 3] = out.pixels[i * 3 + 1] = out.pixels[i * 3 + 2] = in.pixels[i];
        } else {
            const std::uint8_t* p = &in.pixels[i * 3];
            out.pixels[i] = static_cast<std::uint8_t>((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16);
        }
    }
    return out;
}

namespace detail {
constexpr int kPrecisionBits = 32 - 8 - 2;  // PIL's Resample.c, 8 bits per channel

struct Coefficients {
    int ksize = 0;
    std::vector<int> bounds;         // (first input index, count) per output index
    std::vector<std::int32_t> kernel;  // ksize fixed-point weights per output index
};

// PIL's precompute_coeffs + normalize_coeffs_8bpc for the bilinear (triangle) filter over the
// whole input: support scales with the shrink factor, which is what antialiases.
inline Coefficients coefficients(int in_size, int out_size) {
    const double scale = static_cast<double>(in_size) / out_size;
    const double filterscale = scale < 1.0 ? 1.0 : scale;
    const double support = 1.0 * filterscale;
    Coefficients c;
    c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
    c.bounds.resize(static_cast<std::size_t>(out_size) * 2);
    c.kernel.assign(static_cast<std::size_t>(out_size) * c.ksize, 0);
    std::vector<double> k(c.ksize);
    for (int xx = 0; xx < out_size; ++xx) {
        const double center = (xx + 0.5) * scale;
        const double ss = 1.0 / filterscale;
        int xmin = static_cast<int>(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = static_cast<int>(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double ww = 0.0;
        for (int x = 0; x < xmax; ++x) {
            double t = (x + xmin - center + 0.5) * ss;
            t = t < 0 ? -t : t;
            k[x] = t < 1.0 ? 1.0 - t : 0.0;
            ww += k[x];
        }
        for (int x = 0; x < xmax; ++x) {
            const double w = ww != 0.0 ? k[x] / ww : k[x];
            c.kernel[static_cast<std::size_t>(xx) * c.ksize + x] =
                static_cast<std::int32_t>(w < 0 ? -0.5 + w * (1 << kPrecisionBits) : 0.5 + w * (1 << kPrecisionBits));
        }
        c.bounds[xx * 2] = xmin;
        c.bounds[xx * 2 + 1] = xmax;
    }
    return c;
}

inline std::uint8_t clip8(std::int64_t v) {
    if (v >= (static_cast<std::int64_t>(1) << kPrecisionBits << 8)) return 255;
    if (v <= 0) return 0;
    return static_cast<std::uint8_t>(v >> kPrecisionBits);
}
}  // namespace detail

// PIL's Image.resize((width, height), Image.BILINEAR) on an 8-bit image: a horizontal pass,
// rounded to 8 bits, then a vertical pass (each skipped when that side keeps its size).
inline Image8 resize_bilinear(const Image8& in, int width, int height) {
    Image8 cur = in;
    const int ch = in.channels;
    if (width != in.width) {
        const auto c = detail::coefficients(in.width, width);
        Image8 out{width, in.height, ch, std::vector<std::uint8_t>(static_cast<std::size_t>(width) * in.height * ch)};
        for (int y = 0; y < in.height; ++y)
            for (int xx = 0; xx < width; ++xx) {
                const int xmin = c.bounds[xx * 2], xmax = c.bounds[xx * 2 + 1];
                const std::int32_t* k = &c.kernel[static_cast<std::size_t>(xx) * c.ksize];
                for (int b = 0; b < ch; ++b) {
                    std::int64_t ss = 1 << (detail::kPrecisionBits - 1);
                    for (int x = 0; x < xmax; ++x) ss += static_cast<std::int64_t>(cur.at(x + xmin, y, b)) * k[x];
                    out.pixels[(static_cast<std::size_t>(y) * width + xx) * ch + b] = detail::clip8(ss);
                }
            }
        cur = std::move(out);
    }
    if (height != in.height) {
        const auto c = detail::coefficients(in.height, height);
        Image8 out{cur.width, height, ch, std::vector<std::uint8_t>(static_cast<std::size_t>(cur.width) * height * ch)};
        for (int yy = 0; yy < height; ++yy) {
            const int ymin = c.bounds[yy * 2], ymax = c.bounds[yy * 2 + 1];
            const std::int32_t* k = &c.kernel[static_cast<std::size_t>(yy) * c.ksize];
            for (int x = 0; x < cur.width; ++x)
                for (int b = 0; b < ch; ++b) {
                    std::int64_t ss = 1 << (detail::kPrecisionBits - 1);
                    for (int y = 0; y < ymax; ++y) ss += static_cast<std::int64_t>(cur.at(x, y + ymin, b)) * k[y];
                    out.pixels[(static_cast<std::size_t>(yy) * cur.width + x) * ch + b] = detail::clip8(ss);
                }
        }
        cur = std::move(out);
    }
    return cur;
}

// The evaluation recipe (see the top of this file); writes channels*size*size floats to `out`.
inline void preprocess(const Image8& decoded, const InputSpec& spec, float* out) {
    if (spec.height != spec.width)
        throw bad_input("the image recipe needs a square input; this model takes " + spec.text());
    const int size = static_cast<int>(spec.height);
    const int resize = static_cast<int>(std::nearbyint(size * 256.0 / 224.0));  // Python's round(): half to even
    const Image8 image = to_channels(decoded, static_cast<int>(spec.channels));
    int width, height;  // shorter side -> resize, the other truncated (torchvision's Resize(int))
    if (image.width <= image.height) {
        width = resize;
        height = static_cast<int>(static_cast<double>(static_cast<long long>(resize) * image.height) / image.width);
    } else {
        width = static_cast<int>(static_cast<double>(static_cast<long long>(resize) * image.width) / image.height);
        height = resize;
    }
    const Image8 resized = (width == image.width && height == image.height) ? image : resize_bilinear(image, width, height);
    const int left = static_cast<int>(std::nearbyint((width - size) / 2.0));
    const int top = static_cast<int>(std::nearbyint((height - size) / 2.0));
    const int ch = image.channels;
    for (int c = 0; c < ch; ++c) {
        const float mean = spec.mean[c], stdev = spec.stdev[c];
        for (int y = 0; y < size; ++y)
            for (int x = 0; x < size; ++x) {
                const float v = static_cast<float>(resized.at(left + x, top + y, c)) / 255.0f;
                out[(static_cast<std::size_t>(c) * size + y) * size + x] = (v - mean) / stdev;
            }
    }
}

}  // namespace resnet_example
