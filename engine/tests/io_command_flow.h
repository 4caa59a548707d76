// io_command_flow.h - a seeded, deterministic command stream for the journal/recovery/process
// tests: limit, IOC, FOK and market orders, cancels and replaces from several sessions on a few
// instruments, priced so that they cross often (trades, partial fills, rejects all occur).
#ifndef UDR_IO_COMMAND_FLOW_H
#define UDR_IO_COMMAND_FLOW_H

#include <algorithm>
#include <cstdint>
#include <vector>

#include "udprouter/engine/engine.h"
#include "udprouter/engine/ring_abi.h"

namespace udr_test {

inline constexpr int64_t kFlowTick = 10'000'000;        // 0.01
inline constexpr int64_t kFlowMid = 100'000'000'000;    // 100.00
inline constexpr uint32_t kFlowSessions = 4;

inline udprouter::engine::EngineConfig flow_config()
{
    udprouter::engine::EngineConfig config{{}, 4096, 16, true};
    for (int32_t id = 1; id <= 3; ++id)
        config.instruments.push_back({id, kFlowTick, kFlowMid - 1000 * kFlowTick, kFlowMid + 1000 * kFlowTick, 1'000'000});
    return config;
}

struct FlowRandom {
    uint64_t state;
    uint64_t next()
    {
        uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    uint64_t below(uint64_t n) { return next() % n; }
};

// One of the commands that act on many orders or on an account (controls = true below): a mass
// cancel of the session's orders, an order status request, or an account control (each limit, the
// SMP mode, the kill switch on and off).
inline void make_control(udr_command &c, FlowRandom &rng, const std::vector<uint64_t> &mine)
{
    const uint64_t pick = rng.below(3);
    if (pick == 0) {
        c.kind = UDR_CMD_MASS_CANCEL;
        c.ord_type = 4 + static_cast<uint8_t>(rng.below(2)); // MassCancel, CancelOnDisconnect
        c.security_id = static_cast<int32_t>(rng.below(4));  // 0 = every instrument
        c.side = static_cast<uint8_t>(rng.below(3));         // 0 = both sides
        c.account = 0;
        return;
    }
    if (pick == 1) {
        c.kind = UDR_CMD_ORDER_STATUS;
        if (!mine.empty()) c.cl_ord_id = mine[mine.size() - 1 - rng.below(std::min<std::size_t>(mine.size(), 4))];
        return;
    }
    c.kind = UDR_CMD_ACCOUNT_CONTROL;
    c.ord_type = static_cast<uint8_t>(rng.below(7)); // 0: a query
    static const int64_t kBase[7] = {0, 20'000, 50'000, 500, 20, 0, 0};
    switch (c.ord_type) {
    case 0: c.price = 0; break;
    case 5: c.price = static_cast<int64_t>(rng.below(4)); break;
    case 6: c.price = rng.below(4) == 0 ? 1 : 0; break;
    default: c.price = kBase[c.ord_type] * static_cast<int64_t>(1 + rng.below(10)); break;
    }
}

// command_seq runs first_seq, first_seq + 1, ...; ClOrdIDs rise per session as the contract demands.
// controls: about one command in 25 is a make_control() one, and commands are 1 ms apart (the
// account order-rate windows see many of them).
inline std::vector<udr_command> make_command_flow(std::size_t count, uint64_t seed = 7, uint64_t first_seq = 1,
                                                  bool controls = false)
{
    FlowRandom rng{seed};
    std::vector<udr_command> out;
    std::vector<uint64_t> next_cl(kFlowSessions + 1, 1);
    std::vector<std::vector<uint64_t>> sent(kFlowSessions + 1);
    for (std::size_t i = 0; i < count; ++i) {
        udr_command c{};
        c.command_seq = first_seq + i;
        c.session_id = 1 + static_cast<uint32_t>(rng.below(kFlowSessions));
        c.account = c.session_id;
        c.security_id = 1 + static_cast<int32_t>(rng.below(3));
        c.side = 1 + static_cast<uint8_t>(rng.below(2));
        c.cl_ord_id = next_cl[c.session_id]++;
        c.recv_time_ns = 1'700'000'000'000'000'000ull + i;
        const uint64_t u = rng.below(100);
        auto &mine = sent[c.session_id];
        if (u < 20 && !mine.empty()) {
            c.kind = u < 12 ? UDR_CMD_CANCEL : UDR_CMD_REPLACE;
            // Recent orders are the ones most likely still live.
            c.orig_cl_ord_id = mine[mine.size() - 1 - rng.below(std::min<std::size_t>(mine.size(), 4))];
        } else {
            c.kind = UDR_CMD_NEW_ORDER;
        }
        const int64_t offset = static_cast<int64_t>(rng.below(21)) - 10;
        c.price = kFlowMid + offset * kFlowTick;
        c.order_qty = 100 * (1 + static_cast<uint32_t>(rng.below(10)));
        c.ord_type = 2;
        const uint64_t t = rng.below(20);
        if (c.kind == UDR_CMD_NEW_ORDER && t == 0) { c.ord_type = 1; c.price = 0; }
        if (c.kind == UDR_CMD_NEW_ORDER) c.time_in_force = t == 1 ? 3 : t == 2 ? 4 : 0;
        if (t == 3) c.price += 1; // off tick: a reject
        if (controls) {
            c.recv_time_ns = 1'700'000'000'000'000'000ull + i * 1'000'000;
            if (rng.below(25) == 0) make_control(c, rng, mine);
            if (c.kind == UDR_CMD_ORDER_STATUS) {
                out.push_back(c); // asks about an order: its ClOrdID is not a new one
                --next_cl[c.session_id];
                continue;
            }
        }
        mine.push_back(c.cl_ord_id);
        out.push_back(c);
    }
    return out;
}

inline std::vector<udr_event> run_flow(udprouter::engine::Engine &engine, const std::vector<udr_command> &flow)
{
    std::vector<udr_event> events;
    for (const udr_command &c : flow) engine.apply(c, [&events](const udr_event &e) { events.push_back(e); });
    return events;
}

} // namespace udr_test

#endif
