// batches.h: split N inputs into batches and run them from T threads, each thread with its own
// runtime state (an OpenVINO infer request, a TensorRT execution context and stream): that state
// is not thread-safe, the compiled model / engine it comes from is. Threads take the next batch
// from a shared counter, so a slow batch does not hold the others back, and each writes its
// logits at its batch's offset, so the output order is the input order whatever the scheduling.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace resnet_example {

struct Timings {
    std::vector<double> batch_ms;  // every timed batch, in completion order
    double wall_ms = 0;            // from the first timed batch's start to the last one's end
    std::size_t images = 0, batches = 0, threads = 0, batch = 0;
};

// `make_worker(thread_index)` returns a callable `(start, count, float* logits)` that runs inputs
// [start, start + count) and writes count * classes logits. Each thread first runs one untimed
// warm-up batch (into scratch memory), then all threads start the timed pass together.
// An exception in any thread stops the others and is rethrown here.
template <typename MakeWorker>
Timings run_batches(std::size_t samples, std::size_t batch, std::size_t threads, std::size_t classes,
                    std::vector<float>& logits, MakeWorker make_worker) {
    using clock = std::chrono::steady_clock;
    batch = std::min(batch, samples);
    const std::size_t batches = (samples + batch - 1) / batch;
    threads = std::min(threads, batches);
    logits.assign(samples * classes, 0.f);
    std::atomic<std::size_t> next{0}, ready{0};
    std::atomic<bool> stop{false};
    std::exception_ptr error;
    std::mutex mutex;
    Timings t;
    t.images = samples, t.batches = batches, t.threads = threads, t.batch = batch;
    clock::time_point first = clock::time_point::max(), last = clock::time_point::min();
    auto body = [&](std::size_t index) {
        try {
            auto worker = make_worker(index);
            std::vector<float> scratch(batch * classes);
            worker(std::size_t{0}, batch, scratch.data());  // warm-up: first-run allocations, kernel selection
            ready.fetch_add(1);
            while (ready.load() < threads && !stop.load()) std::this_thread::yield();
            std::vector<double> mine;
            clock::time_point begin = clock::time_point::max(), end = clock::time_point::min();
            for (std::size_t b = next.fetch_add(1); b < batches && !stop.load(); b = next.fetch_add(1)) {
                const std::size_t start = b * batch, count = std::min(batch, samples - start);
                const auto t0 = clock::now();
                worker(start, count, logits.data() + start * classes);
                const auto t1 = clock::now();
                begin = std::min(begin, t0), end = std::max(end, t1);
                mine.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
            }
            std::lock_guard<std::mutex> lock(mutex);
            t.batch_ms.insert(t.batch_ms.end(), mine.begin(), mine.end());
            first = std::min(first, begin), last = std::max(last, end);
        } catch (...) {
            std::lock_guard<std::mutex> lock(mutex);
            if (!error) error = std::current_exception();
            stop.store(true);
            ready.fetch_add(1);
        }
    };
    std::vector<std::thread> pool;
    for (std::size_t i = 0; i < threads; ++i) pool.emplace_back(body, i);
    for (auto& th : pool) th.join();
    if (error) std::rethrow_exception(error);
    t.wall_ms = std::chrono::duration<double, std::milli>(last - first).count();
    return t;
}

}  // namespace resnet_example
