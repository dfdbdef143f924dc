// Verilator main for the fast co-simulation under cocotb: the clock is toggled from C++.
//
// cocotb's own Verilator main advances time from event to event, and the design's clock then has
// to come from Python (a callback per edge) or from a Verilog delay (Verilator's --timing
// coroutines): both cost more per cycle than the design itself. The stimulus wrapper
// `spikeforge_stim` needs nothing but a clock and a 3-cycle reset, so this main clocks it the
// way a plain Verilator harness does, two evals per cycle and no VPI work on the way, and hands
// control to cocotb (its start-up, timers and the end of the test) only at the times cocotb has
// asked for. The cocotb test waits on one long Timer; once the wrapper raises `finished` the
// clock stops and simulation time jumps to that timer, as in the Verilog-clocked top.
//
// Built by spikeforge.cosim.fast.build_verilator_cocotb (not by cocotb's runner) with
//   verilator -cc --exe --vpi --prefix Vtop --top-module spikeforge_stim
//             -CFLAGS -DSPIKEFORGE_PERIOD_NS=<period> ... this file, the network, the wrapper

#include <cstdint>
#include <memory>

#include "Vtop.h"
#include "verilated.h"
#include "verilated_vpi.h"

#ifndef SPIKEFORGE_PERIOD_NS
#define SPIKEFORGE_PERIOD_NS 10
#endif

extern "C" void vlog_startup_routines_bootstrap(void);

namespace {

constexpr int kResetCycles = 3;  // as the C++ harness and the Verilog-clocked top
constexpr uint64_t kNoDeadline = ~0ULL;

// Value-change callbacks may change values that trigger others: repeat until quiet.
void settle_value_callbacks() {
    while (VerilatedVpi::callValueCbs()) {
    }
}

// Everything cocotb may want at the current time: its timers, then the read-write and
// read-only phases, with the design evaluated after anything it wrote.
void run_cocotb_callbacks(Vtop& top) {
    VerilatedVpi::callCbs(cbNextSimTime);
    settle_value_callbacks();
    VerilatedVpi::callTimedCbs();
    settle_value_callbacks();
    do {
        do {
            top.eval_step();
            VerilatedVpi::clearEvalNeeded();
            VerilatedVpi::doInertialPuts();
            settle_value_callbacks();
        } while (VerilatedVpi::evalNeeded());
        VerilatedVpi::callCbs(cbReadWriteSynch);
        VerilatedVpi::doInertialPuts();
        settle_value_callbacks();
    } while (VerilatedVpi::evalNeeded());
    top.eval_end_step();
    VerilatedVpi::callCbs(cbReadOnlySynch);
}

}  // namespace

int main(int argc, char** argv) {
    const auto context = std::make_unique<VerilatedContext>();
    context->commandArgs(argc, argv);
    Verilated::fatalOnVpiError(false);  // cocotb probes some handles that may not exist
    const auto top = std::make_unique<Vtop>(context.get(), "");
    // Simulation time counts in the design's time precision (--timescale 1ns/1ps: ps).
    uint64_t units_per_ns = 1;
    for (int p = context->timeprecision(); p < -9; ++p) units_per_ns *= 10;
    const uint64_t period = SPIKEFORGE_PERIOD_NS * units_per_ns;

    vlog_startup_routines_bootstrap();
    VerilatedVpi::callCbs(cbStartOfSimulation);
    settle_value_callbacks();

    uint64_t now = 0;
    top->clk = 0;
    top->rst = 1;
    run_cocotb_callbacks(*top);  // time 0: cocotb starts the test, which sets its timer
    uint64_t deadline = VerilatedVpi::cbNextDeadline();
    uint64_t cycles = 0;
    // The clock loop: rising edge at now + period, falling edge right after, as in the harness.
    while (!top->finished && !context->gotFinish()) {
        now += period;
        if (now >= deadline) {  // cocotb's timer is due before this edge: let it run first
            now = deadline;
            context->time(now);
            run_cocotb_callbacks(*top);
            deadline = VerilatedVpi::cbNextDeadline();
            continue;
        }
        context->time(now);
        top->clk = 1;
        top->eval();
        top->clk = 0;
        top->eval();
        if (++cycles == kResetCycles) top->rst = 0;
    }
    // The clock stops: from here on only cocotb's own timers move time, until the test ends.
    while (!context->gotFinish()) {
        deadline = VerilatedVpi::cbNextDeadline();
        if (deadline == kNoDeadline) break;
        now = deadline > now ? deadline : now;
        context->time(now);
        run_cocotb_callbacks(*top);
    }
    top->final();
    VerilatedVpi::callCbs(cbEndOfSimulation);
    return context->errorCount() > 0 ? 1 : 0;
}
