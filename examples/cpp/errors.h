// errors.h: the exit codes of the resnet-deploy CLI, for the C++ examples. A problem is thrown as
// an ExitError carrying its code; run_main turns it into one line on stderr and that code.
//   1 a run-time failure   2 bad input or usage   3 a missing library or device
#pragma once

#include <exception>
#include <iostream>
#include <stdexcept>
#include <string>

namespace resnet_example {

struct ExitError : std::runtime_error {
    int code;
    ExitError(int exit_code, const std::string& message) : std::runtime_error(message), code(exit_code) {}
};

inline ExitError bad_input(const std::string& message) { return ExitError(2, message); }
inline ExitError failed(const std::string& message) { return ExitError(1, message); }
inline ExitError missing(const std::string& message) { return ExitError(3, message); }

// The first non-empty line of a (possibly multi-line) library message, trimmed.
inline std::string first_line(const std::string& text) {
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string line = text.substr(start, end - start);
        const auto first = line.find_first_not_of(" \t\r");
        if (first != std::string::npos) return line.substr(first, line.find_last_not_of(" \t\r") - first + 1);
        start = end + 1;
    }
    return text;
}

// Runs `body` and maps what it throws to one stderr line and an exit code.
template <typename Body>
int run_main(Body&& body) {
    try {
        return body();
    } catch (const ExitError& e) {
        std::cerr << "error: " << first_line(e.what()) << "\n";
        return e.code;
    } catch (const std::bad_alloc&) {
        std::cerr << "error: out of memory\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "error: " << first_line(e.what()) << "\n";
        return 1;
    }
}

}  // namespace resnet_example
