// npy.h: read and write float32 NumPy .npy files (format 1.0-3.0, little-endian, C order), the
// exchange format between the C++ examples and Python: `np.save("x.npy", batch)` in, logits out.
// Anything else (another dtype, Fortran order, a truncated file) is refused with one line.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "errors.h"

namespace resnet_example {

struct Tensor {
    std::vector<std::size_t> shape;
    std::vector<float> data;
    std::size_t count() const {
        return std::accumulate(shape.begin(), shape.end(), std::size_t{1}, std::multiplies<std::size_t>());
    }
};

inline std::string shape_text(const std::vector<std::size_t>& shape) {
    std::string out = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
    return out + (shape.size() == 1 ? ",)" : ")");
}

namespace detail {
// The value of `key` in the header dict, as written by numpy ('descr': '<f4', 'shape': (2, 3), ...).
inline std::string header_field(const std::string& header, const std::string& key, const std::string& path) {
    const auto at = header.find("'" + key + "'");
    if (at == std::string::npos) throw bad_input("'" + path + "' is not a valid .npy file (no '" + key + "' in its header)");
    auto colon = header.find(':', at);
    auto start = header.find_first_not_of(' ', colon + 1);
    if (colon == std::string::npos || start == std::string::npos)
        throw bad_input("'" + path + "' is not a valid .npy file (bad header)");
    std::size_t end;
    if (header[start] == '(') {
        end = header.find(')', start);
        if (end == std::string::npos) throw bad_input("'" + path + "' is not a valid .npy file (bad shape)");
        return header.substr(start, end - start + 1);
    }
    end = header.find_first_of(",}", start);
    return header.substr(start, end - start);
}
}  // namespace detail

inline Tensor read_npy(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw bad_input("cannot open '" + path + "'");
    char magic[8];
    if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0)
        throw bad_input("'" + path + "' is not a .npy file (save the batch with numpy.save)");
    const int major = static_cast<unsigned char>(magic[6]);
    std::uint32_t header_len = 0;
    unsigned char len_bytes[4] = {0, 0, 0, 0};
    const int width = major == 1 ? 2 : 4;
    if ((major < 1 || major > 3) || !in.read(reinterpret_cast<char*>(len_bytes), width))
        throw bad_input("'" + path + "' has an unsupported .npy version " + std::to_string(major));
    for (int i = width - 1; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
    std::string header(header_len, '\0');
    if (!in.read(header.data(), header_len)) throw bad_input("'" + path + "' is truncated (in its header)");
    const std::string descr = detail::header_field(header, "descr", path);
    if (descr != "'<f4'" && descr != "'|f4'")
        throw bad_input("'" + path + "' holds " + descr + " values; this example reads float32 ('<f4'): "
                        "save x.astype(numpy.float32)");
    if (detail::header_field(header, "fortran_order", path) != "False")
        throw bad_input("'" + path + "' is in Fortran order; save numpy.ascontiguousarray(x)");
    Tensor t;
    std::string dims = detail::header_field(header, "shape", path);
    dims = dims.substr(1, dims.size() - 2);
    std::stringstream ss(dims);
    std::string item;
    while (std::getline(ss, item, ',')) {
        if (item.find_first_not_of(' ') == std::string::npos) continue;
        t.shape.push_back(static_cast<std::size_t>(std::stoull(item)));
    }
    const std::size_t count = t.count();
    t.data.resize(count);
    in.read(reinterpret_cast<char*>(t.data.data()), static_cast<std::streamsize>(count * sizeof(float)));
    if (static_cast<std::size_t>(in.gcount()) != count * sizeof(float))
        throw bad_input("'" + path + "' is truncated: shape " + shape_text(t.shape) + " needs " +
                        std::to_string(count * sizeof(float)) + " bytes of data, found " + std::to_string(in.gcount()));
    if (in.peek() != std::char_traits<char>::eof())
        throw bad_input("'" + path + "' has bytes after its data: not a single .npy array");
    return t;
}

// Writes `t` to `path` atomically: a temporary file beside it, then a rename, so a reader never
// sees half an array.
inline void write_npy(const std::string& path, const Tensor& t) {
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape_text(t.shape) + ", }";
    const std::size_t unpadded = 10 + header.size() + 1;
    header.append((64 - unpadded % 64) % 64, ' ');
    header += '\n';
    const std::string tmp = path + ".tmp" + std::to_string(std::random_device{}());
    {
        std::ofstream out(tmp, std::ios::binary);
        const std::uint16_t len = static_cast<std::uint16_t>(header.size());
        const char preamble[10] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<char>(len & 0xff),
                                   static_cast<char>(len >> 8)};
        out.write(preamble, 10);
        out.write(header.data(), static_cast<std::streamsize>(header.size()));
        out.write(reinterpret_cast<const char*>(t.data.data()), static_cast<std::streamsize>(t.data.size() * sizeof(float)));
        out.flush();
        if (!out) {
            out.close();
            std::remove(tmp.c_str());
            throw bad_input("cannot write '" + path + "' (is its folder there and writable?)");
        }
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        throw bad_input("cannot write '" + path + "'");
    }
}

}  // namespace resnet_example
