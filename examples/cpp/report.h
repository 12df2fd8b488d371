// report.h: what both example programs print: a header line, the top-K classes of every image
// with their softmax probabilities, and the timing summary.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "batches.h"
#include "input_spec.h"

namespace resnet_example {

// One line per image: "image 0 (cat.ppm): tabby 0.8123 | tiger 0.0712 | ..." (label, probability).
inline void print_top(const std::vector<float>& logits, std::size_t classes, const std::vector<std::string>& names,
                      const InputSpec& spec, std::size_t top) {
    const std::size_t k = std::min(top, classes);
    for (std::size_t n = 0; n < names.size(); ++n) {
        const float* row = logits.data() + n * classes;
        std::vector<std::size_t> order(classes);
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(order.begin(), order.begin() + static_cast<long>(k), order.end(),
                          [row](std::size_t a, std::size_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
        const float peak = row[order[0]];
        double total = 0;
        for (std::size_t c = 0; c < classes; ++c) total += std::exp(static_cast<double>(row[c]) - peak);
        std::printf("image %zu (%s):", n, names[n].c_str());
        for (std::size_t j = 0; j < k; ++j)
            std::printf("%s %s %.4f", j ? " |" : "", spec.label(order[j]).c_str(),
                        std::exp(static_cast<double>(row[order[j]]) - peak) / total);
        std::printf("\n");
    }
}

inline double percentile(std::vector<double> values, double q) {  // nearest rank
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const std::size_t rank = static_cast<std::size_t>(std::ceil(q / 100.0 * values.size()));
    return values[std::min(values.size() - 1, rank == 0 ? 0 : rank - 1)];
}

inline void print_timings(const Timings& t, double load_ms) {
    std::printf("timing: load %.1f ms; %zu images in %zu batch(es) of up to %zu on %zu thread(s) (one untimed "
                "warm-up batch each): wall %.2f ms, %.1f images/s; per batch ms: min %.3f median %.3f p90 %.3f max %.3f\n",
                load_ms, t.images, t.batches, t.batch, t.threads, t.wall_ms,
                t.wall_ms > 0 ? t.images / (t.wall_ms / 1000.0) : 0.0, percentile(t.batch_ms, 0), percentile(t.batch_ms, 50),
                percentile(t.batch_ms, 90), percentile(t.batch_ms, 100));
}

}  // namespace resnet_example
