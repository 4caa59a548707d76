// engine_options.h - the udprouter-engine command line (the router spawns it exactly so).
//
//   udprouter-engine --shm NAME --inbound-eventfd FD --outbound-eventfd FD [--lock-fd FD] --journal DIR
//     --durability none|os|fsync --instrument SECID:TICK:MIN_PRICE:MAX_PRICE:MAX_QTY (repeat)
//     --max-orders N --max-sessions N [--terminal-orders N] [--self-match-prevention]
//     [--wait spin|sleep|hybrid|adaptive] [--spin-us N] [--low-rate N] [--low-rate-spin-us N]
//     [--snapshot-every N]
//   udprouter-engine --journal DIR --instrument ... --max-orders N --max-sessions N
//     [--terminal-orders N] [--self-match-prevention] --print-state-digest
//
// --terminal-orders: filled and canceled orders kept for order status (0..2^32-2, default
// --max-orders; terminal_orders.h).
//
// Options take their value as the next argument or after '='. Parsing reports the first problem
// as a message naming the option; the process prints it and exits 2.
#ifndef UDPROUTER_ENGINE_ENGINE_OPTIONS_H
#define UDPROUTER_ENGINE_ENGINE_OPTIONS_H

#include <cstdint>
#include <string>

#include "udprouter/engine/engine.h"
#include "udprouter/engine/journal.h"

namespace udprouter::engine {

// How the engine waits for commands when the inbound ring is empty (stable numbers).
enum class WaitStrategy : uint8_t {
    Spin = 0,   // poll without ever sleeping: lowest latency, one core busy
    Sleep = 1,  // block on the eventfd at once: no CPU when idle, a wake-up per burst
    Hybrid = 2, // spin for spin_us, then block
    // Hybrid while commands come at low_rate per second or more; below it, spin up to
    // low_rate_spin_us between batches, yielding the CPU every few looks. A low rate leaves a
    // vCPU idle, and a spinning engine needs no wake-up: the router's pass never waits for one.
    Adaptive = 3,
};
const char *wait_strategy_name(WaitStrategy wait);

struct EngineOptions {
    std::string shm_name;
    int inbound_eventfd = -1;
    int outbound_eventfd = -1;
    int lock_fd = -1; // the router's journal lock, inherited; -1: the engine takes its own
    std::string journal_dir;
    Durability durability = Durability::Os;
    EngineConfig config{{}, 0, 0, false, EngineConfig::kTerminalLikeMaxOrders};
    WaitStrategy wait = WaitStrategy::Hybrid;
    uint32_t spin_us = 5; // measured best on 2 vCPUs (see config.py engine.spin_us)
    uint32_t low_rate = 12000;          // adaptive: commands per second below which it spins
    uint32_t low_rate_spin_us = 2000;   // adaptive: the spin between batches at a low rate
    uint64_t snapshot_every = 0;
    bool print_state_digest = false;
};

struct EngineOptionsResult {
    bool ok = false;
    bool help = false;
    std::string error;
    EngineOptions options;
};

EngineOptionsResult parse_engine_options(int argc, const char *const *argv);
const char *engine_usage();

} // namespace udprouter::engine

#endif // UDPROUTER_ENGINE_ENGINE_OPTIONS_H
