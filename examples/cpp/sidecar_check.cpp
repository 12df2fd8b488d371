// sidecar_check PLAN TENSORRT_VERSION COMPUTE_CAPABILITY
// Reads PLAN.json and says whether the plan would run with that TensorRT on that GPU.
// Needs no TensorRT: the project's tests build and run it on any machine.
#include <iostream>

#include "sidecar.h"

int main(int argc, char** argv) {
    if (argc != 4) {
        std::cerr << "usage: sidecar_check PLAN TENSORRT_VERSION COMPUTE_CAPABILITY\n";
        return 2;
    }
    try {
        const auto s = plan_sidecar::load(argv[1]);
        std::cout << "tensorrt " << s.tensorrt_version << "\ngpu " << s.gpu_name << " " << s.compute_capability
                  << "\nprecision " << s.precision << "\ninput " << s.input_name << " batch " << s.min_shape.at(0)
                  << ".." << s.max_shape.at(0) << "\nclasses " << s.class_names.size() << "\n";
        const std::string problem = plan_sidecar::incompatibility(s, argv[2], argv[3]);
        if (!problem.empty()) {
            std::cerr << "error: " << problem << "\n";
            return 2;
        }
        std::cout << "compatible\n";
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 2;
    }
}
