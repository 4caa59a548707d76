// lobflow1_recording.h - LOBFLOW1 recorded as a command array, for the benchmarks that push the
// flow through a layer (journal, ring) in batches, plus what they share: totals from events,
// percentiles, the JSON line.
//
// LOBFLOW1's generator needs each operation's outcome before drawing the next one, so a layer
// that works in batches (the ring, the batched journal) cannot drive it live. The recording runs
// the flow once through the in-process Engine and keeps the commands (prefill first); replaying
// them through any correct layer must reproduce the recording's totals exactly, which each
// benchmark checks.
#ifndef UDPROUTER_BENCH_LOBFLOW1_RECORDING_H
#define UDPROUTER_BENCH_LOBFLOW1_RECORDING_H

#include "lobflow1.h"

#include "udprouter/engine/engine.h"

#include <x86intrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

namespace udprouter::bench {

struct Lobflow1Recording {
    uint32_t symbols = 0;
    std::size_t prefill = 0;           // commands[0 .. prefill) build the books, untimed
    std::vector<udr_command> commands; // then the timed operations
    Lobflow1Totals totals;             // over the timed operations
    std::size_t timed() const { return commands.size() - prefill; }
};

inline engine::EngineConfig lobflow1_config(uint32_t symbols)
{
    engine::EngineConfig config{{}, symbols * kLobflow1Cap + 1, 1, false};
    const int64_t tick = Lobflow1Driver::kTickMantissa;
    for (uint32_t s = 0; s < symbols; ++s)
        config.instruments.push_back({static_cast<int32_t>(s + 1), tick, 9000 * tick, 11000 * tick, 1'000'000});
    return config;
}

// Totals from the events alone (no flow feedback), as a consumer of the outbound ring sees them.
struct Lobflow1EventTotals {
    Lobflow1Totals totals;
    void on_event(const udr_event &e)
    {
        if (e.kind == UDR_EVT_TRADE && (e.flags & UDR_EVT_FLAG_AGGRESSOR)) {
            totals.fill_qty += e.qty;
            ++totals.trades;
        } else if (e.kind == UDR_EVT_CANCELED && e.reason == 0) {
            ++totals.cancels;
        } else if (e.kind == UDR_EVT_REJECTED || e.kind == UDR_EVT_CANCEL_REJECTED) {
            ++totals.rejects;
        }
    }
};

inline bool same_totals(const Lobflow1Totals &a, const Lobflow1Totals &b)
{
    return a.fill_qty == b.fill_qty && a.trades == b.trades && a.cancels == b.cancels && a.rejects == b.rejects;
}

inline Lobflow1Recording record_lobflow1(uint32_t symbols, uint64_t ops)
{
    struct Book {
        const engine::Engine &engine;
        int64_t best(uint32_t sym, uint8_t side) const
        {
            int64_t price = 0;
            return engine.best_price(static_cast<int32_t>(sym + 1), side, price) ? price / Lobflow1Driver::kTickMantissa
                                                                                   : -1;
        }
        int64_t best_bid(uint32_t sym) const { return best(sym, 1); }
        int64_t best_ask(uint32_t sym) const { return best(sym, 2); }
    };
    Lobflow1Recording rec;
    rec.symbols = symbols;
    engine::Engine engine(lobflow1_config(symbols));
    Lobflow1Driver driver(symbols, ops);
    Book book{engine};
    auto sink = [&driver](const udr_event &e) { driver.on_event(e); };
    rec.prefill = std::size_t{symbols} * kLobflow1Prefill;
    rec.commands.reserve(rec.prefill + ops);
    for (uint64_t i = 0; i < rec.prefill; ++i) {
        rec.commands.push_back(driver.command(driver.flow().prefill(i)));
        engine.apply(rec.commands.back(), sink);
    }
    driver.reset_totals();
    for (uint64_t i = 0; i < ops; ++i) {
        rec.commands.push_back(driver.command(driver.flow().next(book)));
        engine.apply(rec.commands.back(), sink);
    }
    rec.totals = driver.totals();
    return rec;
}

inline uint64_t bench_ticks() { return __rdtsc(); }

// Nanoseconds per TSC tick, measured over a short sleep-free spin.
inline double ns_per_tick()
{
    const auto t0 = std::chrono::steady_clock::now();
    const uint64_t c0 = bench_ticks();
    while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(20)) {
    }
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    return ns / static_cast<double>(bench_ticks() - c0);
}

inline double percentile_ns(std::vector<uint64_t> &ticks, double q, double ns_per)
{
    if (ticks.empty()) return 0;
    const std::size_t k = std::min(ticks.size() - 1, static_cast<std::size_t>(q * static_cast<double>(ticks.size())));
    std::nth_element(ticks.begin(), ticks.begin() + static_cast<long>(k), ticks.end());
    return static_cast<double>(ticks[k]) * ns_per;
}

struct BenchLine {
    const char *mode;
    uint32_t symbols;
    uint64_t ops;
    double ops_per_s;
    double p50_ns, p99_ns, p999_ns;
    Lobflow1Totals totals;
    const char *extra; // further "key":value pairs, starting with a comma, or ""
};

inline void print_bench_line(const BenchLine &l)
{
    std::printf("{\"bench\":\"engine\",\"flow\":\"LOBFLOW1\",\"symbols\":%u,\"mode\":\"%s\",\"ops\":%llu,"
                "\"ops_per_s\":%.0f,\"p50_ns\":%.0f,\"p99_ns\":%.0f,\"p999_ns\":%.0f,\"fill_qty\":%llu,"
                "\"trades\":%llu,\"cancels\":%llu%s}\n",
                l.symbols, l.mode, static_cast<unsigned long long>(l.ops), l.ops_per_s, l.p50_ns, l.p99_ns, l.p999_ns,
                static_cast<unsigned long long>(l.totals.fill_qty), static_cast<unsigned long long>(l.totals.trades),
                static_cast<unsigned long long>(l.totals.cancels), l.extra);
    std::fflush(stdout);
}

} // namespace udprouter::bench

#endif
