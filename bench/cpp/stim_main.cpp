// Plain Verilator harness for spikeforge_stim: the clock is toggled from C++, no Python anywhere.
//
// Built by bench/cosim_speed.py with
//   verilator --cc --exe --build --top-module spikeforge_stim --prefix Vstim -O3 ...
//             bench/cpp/stim_main.cpp spikeforge_top.v spikeforge_stim.v
// and run with the same plusargs as the cocotb run:
//   ./stim_cpp +spikeforge_stim=stim.hex +spikeforge_results=results.hex [+max_cycles=N]
// The wrapper reads the images, drives the network, and writes the result file itself; this main
// only holds reset for 3 cycles (as spikeforge_stim_tb does), then clocks until `finished`.
// It prints one JSON line: cycles clocked, seconds in the clock loop, and whether it finished.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "Vstim.h"
#include "verilated.h"

int main(int argc, char** argv) {
    auto context = std::make_unique<VerilatedContext>();
    context->commandArgs(argc, argv);  // the wrapper reads its file names from the plusargs
    // A cap for a wrapper that never finishes (its own watchdog should stop it first).
    uint64_t max_cycles = UINT64_MAX;
    const char* cap = context->commandArgsPlusMatch("max_cycles=");
    if (cap[0]) max_cycles = std::strtoull(cap + std::strlen("+max_cycles="), nullptr, 10);

    auto start = std::chrono::steady_clock::now();
    auto top = std::make_unique<Vstim>(context.get());
    uint64_t cycles = 0;
    auto tick = [&] {
        top->clk = 1;
        top->eval();
        top->clk = 0;
        top->eval();
        ++cycles;
    };
    top->clk = 0;
    top->rst = 1;
    top->eval();
    for (int i = 0; i < 3; ++i) tick();
    top->rst = 0;
    while (!top->finished && !context->gotFinish() && cycles < max_cycles) tick();
    const bool finished = top->finished;
    top->final();
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("{\"cycles\": %llu, \"seconds\": %.6f, \"finished\": %s}\n",
                static_cast<unsigned long long>(cycles), seconds, finished ? "true" : "false");
    return finished ? 0 : 1;
}
