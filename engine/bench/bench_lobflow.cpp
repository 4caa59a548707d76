// bench_lobflow - LOBFLOW1 through the in-process Engine ("core" mode).
//
// For each symbol count: ops/s as the median of K passes over the timed operations (each pass on
// a fresh engine, prefill not timed; also per second of this thread's CPU time, which a busy
// shared host disturbs less than wall time), then a separate pass timing every Engine::apply call with
// rdtsc (lfence-ordered; cycles converted with a steady_clock calibration of the same pass, the
// rdtsc pair overhead measured in the same run and subtracted) for p50/p99/p99.9. At the full 10M
// operations the totals must equal LOBFLOW1.md's table, else the run fails loudly (exit 2).
// In-run baseline: the naive reference engine of the differential test on the first operations
// of N=1, next to this engine on the same operations (same totals required), as a ratio.
#include "lobflow1.h"
#include "reference_engine.h"

#include "udprouter/engine/engine.h"

#include <x86intrin.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

using namespace udprouter::engine;
using namespace udprouter::bench;

namespace {

struct Options {
    std::vector<uint32_t> symbols{1, 100};
    int passes = 5;
    uint64_t ops = kLobflow1Ops;
    uint64_t baseline_ops = 100'000;
    bool json_only = false;
    bool controls = false; // also the row with self-match prevention and account checks on
};

// The controls row: orders spread over kControlAccounts accounts, each with every limit set far
// above what the flow reaches (every check runs, none refuses) and self-match prevention on.
constexpr uint32_t kControlAccounts = 1024;

struct PassResult {
    double seconds = 0;
    double cpu_seconds = 0; // this thread's CPU time: robust to being descheduled on a busy host
    Lobflow1Totals totals;
    std::vector<uint32_t> cycles; // per op, latency pass only
    double ns_per_cycle = 0;
};

EngineConfig lobflow_config(uint32_t symbols) {
    EngineConfig config{{}, symbols * kLobflow1Cap + 1, 1, false};
    for (uint32_t s = 0; s < symbols; ++s) {
        // Tick 0.01 and a +-10% band around MID, like the router's default instruments.
        const int64_t tick = Lobflow1Driver::kTickMantissa;
        config.instruments.push_back(InstrumentSpec{static_cast<int32_t>(s + 1), tick, 9000 * tick, 11000 * tick, 1'000'000});
    }
    return config;
}

// Applies commands to the fast Engine and answers the flow's best-price queries from it.
struct EngineTarget {
    Engine engine;
    explicit EngineTarget(const EngineConfig& config) : engine(config) {}
    template <class Sink> void apply(const udr_command& c, Sink&& sink) { engine.apply(c, sink); }
    int64_t best(uint32_t sym, uint8_t side) const {
        int64_t price = 0;
        return engine.best_price(static_cast<int32_t>(sym + 1), side, price) ? price / Lobflow1Driver::kTickMantissa : -1;
    }
    int64_t best_bid(uint32_t sym) const { return best(sym, 1); }
    int64_t best_ask(uint32_t sym) const { return best(sym, 2); }
};

// The same for the naive reference engine (baseline).
struct ReferenceTarget {
    udr_test::ReferenceEngine engine;
    explicit ReferenceTarget(const EngineConfig& config) : engine(config) {}
    template <class Sink> void apply(const udr_command& c, Sink&& sink) {
        for (const udr_event& e : engine.apply(c)) sink(e);
    }
    int64_t best(uint32_t sym, uint8_t side) const {
        int64_t price = 0;
        return engine.best_price(static_cast<int32_t>(sym + 1), side, price) ? price / Lobflow1Driver::kTickMantissa : -1;
    }
    int64_t best_bid(uint32_t sym) const { return best(sym, 1); }
    int64_t best_ask(uint32_t sym) const { return best(sym, 2); }
};

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

inline uint64_t ticks() {
    _mm_lfence();
    const uint64_t t = __rdtsc();
    _mm_lfence();
    return t;
}

template <class Target>
PassResult run_pass(uint32_t symbols, uint64_t ops, bool time_each_op, bool controls = false) {
    EngineConfig config = lobflow_config(symbols);
    config.self_match_prevention = controls;
    auto target = std::make_unique<Target>(config);
    Lobflow1Driver driver(symbols, ops);
    auto sink = [&driver](const udr_event& e) { driver.on_event(e); };
    if (controls) {
        driver.spread_accounts(kControlAccounts);
        for (uint32_t account = 1; account <= kControlAccounts; ++account) {
            for (uint8_t control = 1; control <= 4; ++control) {
                udr_command c = driver.command(Lobflow1Op{});
                c.kind = UDR_CMD_ACCOUNT_CONTROL;
                c.account = account;
                c.ord_type = control;
                c.price = int64_t{1} << 40;
                target->apply(c, [](const udr_event&) {});
            }
        }
    }
    for (uint64_t i = 0; i < uint64_t{symbols} * kLobflow1Prefill; ++i) {
        target->apply(driver.command(driver.flow().prefill(i)), sink);
    }
    driver.reset_totals();
    PassResult result;
    if (time_each_op) result.cycles.resize(ops);
    const double start_cpu = thread_cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    const uint64_t start_ticks = ticks();
    for (uint64_t i = 0; i < ops; ++i) {
        const udr_command c = driver.command(driver.flow().next(*target));
        if (time_each_op) {
            const uint64_t t0 = ticks();
            target->apply(c, sink);
            result.cycles[i] = static_cast<uint32_t>(std::min<uint64_t>(ticks() - t0, UINT32_MAX));
        } else {
            target->apply(c, sink);
        }
    }
    const uint64_t end_ticks = ticks();
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result.cpu_seconds = thread_cpu_seconds() - start_cpu;
    result.ns_per_cycle = result.seconds * 1e9 / static_cast<double>(end_ticks - start_ticks);
    result.totals = driver.totals();
    return result;
}

// Median cycles of an empty timed region: what each per-op figure over-counts.
uint64_t timer_overhead_cycles() {
    std::vector<uint64_t> samples(100'000);
    for (auto& s : samples) {
        const uint64_t t0 = ticks();
        s = ticks() - t0;
    }
    std::nth_element(samples.begin(), samples.begin() + samples.size() / 2, samples.end());
    return samples[samples.size() / 2];
}

double percentile_ns(std::vector<uint32_t>& cycles, double q, uint64_t overhead, double ns_per_cycle) {
    const size_t k = std::min(cycles.size() - 1, static_cast<size_t>(q * static_cast<double>(cycles.size())));
    std::nth_element(cycles.begin(), cycles.begin() + static_cast<long>(k), cycles.end());
    const uint64_t c = cycles[k] > overhead ? cycles[k] - overhead : 0;
    return static_cast<double>(c) * ns_per_cycle;
}

bool expected_totals(uint32_t symbols, Lobflow1Totals& out) {
    if (symbols == 1) out = Lobflow1Totals{1'447'162'100, 3'121'149, 3'186'375, 0};
    else if (symbols == 100) out = Lobflow1Totals{1'454'839'100, 3'138'389, 3'181'046, 0};
    else return false;
    return true;
}

bool same(const Lobflow1Totals& a, const Lobflow1Totals& b) {
    return a.fill_qty == b.fill_qty && a.trades == b.trades && a.cancels == b.cancels && a.rejects == b.rejects;
}

void print_totals(const char* label, const Lobflow1Totals& t) {
    std::fprintf(stderr, "  %-8s fill_qty=%llu trades=%llu cancels=%llu rejects=%llu\n", label,
                 static_cast<unsigned long long>(t.fill_qty), static_cast<unsigned long long>(t.trades),
                 static_cast<unsigned long long>(t.cancels), static_cast<unsigned long long>(t.rejects));
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const bool has_value = i + 1 < argc;
        if (a == "--symbols" && has_value) o.symbols = {static_cast<uint32_t>(std::stoul(argv[++i]))};
        else if (a == "--passes" && has_value) o.passes = std::max(1, std::stoi(argv[++i]));
        else if (a == "--ops" && has_value) o.ops = std::stoull(argv[++i]);
        else if (a == "--baseline-ops" && has_value) o.baseline_ops = std::stoull(argv[++i]);
        else if (a == "--json-only") o.json_only = true;
        else if (a == "--controls") o.controls = true;
        else {
            std::fprintf(stderr, "usage: bench_lobflow [--symbols N] [--passes K] [--ops M] [--baseline-ops M] [--json-only] [--controls]\n");
            std::exit(2);
        }
    }
    return o;
}

} // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    const uint64_t overhead = timer_overhead_cycles();
    bool ok = true;
    if (!o.json_only) {
        std::printf("LOBFLOW1, mode core: ops/s = median of %d passes over %llu ops; latency = rdtsc around each "
                    "Engine::apply, timer overhead %llu cycles subtracted\n",
                    o.passes, static_cast<unsigned long long>(o.ops), static_cast<unsigned long long>(overhead));
        std::printf("%-8s %-6s %14s %14s %9s %9s %9s %15s %10s %10s  %s\n", "mode", "N", "ops/s", "ops/cpu-s",
                    "p50_ns", "p99_ns", "p999_ns", "fill_qty", "trades", "cancels", "totals");
    }
    const auto row = [&](uint32_t n, bool controls) {
        const char* mode = controls ? "controls" : "core"; // controls: SMP and account checks on
        std::vector<double> rates;
        std::vector<double> cpu_rates;
        Lobflow1Totals totals;
        for (int p = 0; p < o.passes; ++p) {
            const PassResult r = run_pass<EngineTarget>(n, o.ops, false, controls);
            rates.push_back(static_cast<double>(o.ops) / r.seconds);
            cpu_rates.push_back(static_cast<double>(o.ops) / r.cpu_seconds);
            if (p > 0 && !same(r.totals, totals)) ok = false; // passes must agree with each other
            totals = r.totals;
        }
        std::sort(rates.begin(), rates.end());
        std::sort(cpu_rates.begin(), cpu_rates.end());
        const double rate = rates[rates.size() / 2];
        const double cpu_rate = cpu_rates[cpu_rates.size() / 2];
        PassResult lat = run_pass<EngineTarget>(n, o.ops, true, controls);
        ok = ok && same(lat.totals, totals);
        const double p50 = percentile_ns(lat.cycles, 0.50, overhead, lat.ns_per_cycle);
        const double p99 = percentile_ns(lat.cycles, 0.99, overhead, lat.ns_per_cycle);
        const double p999 = percentile_ns(lat.cycles, 0.999, overhead, lat.ns_per_cycle);
        Lobflow1Totals want;
        const bool checkable = !controls && o.ops == kLobflow1Ops && expected_totals(n, want);
        const bool match = !checkable || same(totals, want);
        ok = ok && match;
        if (!o.json_only) {
            std::printf("%-8s %-6u %14.0f %14.0f %9.0f %9.0f %9.0f %15llu %10llu %10llu  %s\n", mode, n, rate, cpu_rate,
                        p50, p99, p999,
                        static_cast<unsigned long long>(totals.fill_qty), static_cast<unsigned long long>(totals.trades),
                        static_cast<unsigned long long>(totals.cancels),
                        !checkable ? "not checked (needs --ops 10000000, N 1 or 100)" : match ? "match LOBFLOW1.md" : "MISMATCH");
        }
        std::printf("{\"bench\":\"engine\",\"flow\":\"LOBFLOW1\",\"symbols\":%u,\"mode\":\"%s\",\"ops\":%llu,"
                    "\"ops_per_s\":%.0f,\"ops_per_cpu_s\":%.0f,\"p50_ns\":%.0f,\"p99_ns\":%.0f,\"p999_ns\":%.0f,\"timer_overhead_ns\":%.1f,"
                    "\"fill_qty\":%llu,\"trades\":%llu,\"cancels\":%llu,\"rejects\":%llu,\"totals_checked\":%s,"
                    "\"totals_match\":%s}\n",
                    n, mode, static_cast<unsigned long long>(o.ops), rate, cpu_rate, p50, p99, p999,
                    static_cast<double>(overhead) * lat.ns_per_cycle, static_cast<unsigned long long>(totals.fill_qty),
                    static_cast<unsigned long long>(totals.trades), static_cast<unsigned long long>(totals.cancels),
                    static_cast<unsigned long long>(totals.rejects), checkable ? "true" : "false",
                    match ? "true" : "false");
        std::fflush(stdout);
        if (!match) {
            std::fprintf(stderr, "LOBFLOW1 N=%u: TOTALS DIFFER FROM LOBFLOW1.md\n", n);
            print_totals("got", totals);
            print_totals("want", want);
        }
    };
    for (const uint32_t n : o.symbols) {
        row(n, false);
        if (o.controls) row(n, true);
    }
    // Baseline: the naive reference engine and this engine on the same first operations of N=1.
    const PassResult naive = run_pass<ReferenceTarget>(1, o.baseline_ops, false);
    const PassResult fast = run_pass<EngineTarget>(1, o.baseline_ops, false);
    const double naive_rate = static_cast<double>(o.baseline_ops) / naive.seconds;
    const double fast_rate = static_cast<double>(o.baseline_ops) / fast.seconds;
    const bool baseline_agrees = same(naive.totals, fast.totals);
    ok = ok && baseline_agrees;
    if (!o.json_only) {
        std::printf("baseline N=1, first %llu ops: naive reference %.0f ops/s, engine %.0f ops/s (%.1fx); totals %s\n",
                    static_cast<unsigned long long>(o.baseline_ops), naive_rate, fast_rate, fast_rate / naive_rate,
                    baseline_agrees ? "agree" : "DIFFER");
    }
    std::printf("{\"bench\":\"engine\",\"flow\":\"LOBFLOW1\",\"symbols\":1,\"mode\":\"naive_reference\",\"ops\":%llu,"
                "\"ops_per_s\":%.0f,\"engine_ops_per_s_same_ops\":%.0f,\"ratio\":%.2f,\"fill_qty\":%llu,\"trades\":%llu,"
                "\"cancels\":%llu}\n",
                static_cast<unsigned long long>(o.baseline_ops), naive_rate, fast_rate, fast_rate / naive_rate,
                static_cast<unsigned long long>(naive.totals.fill_qty), static_cast<unsigned long long>(naive.totals.trades),
                static_cast<unsigned long long>(naive.totals.cancels));
    if (!ok) {
        std::fprintf(stderr, "bench_lobflow: FAILED (totals differ; see above)\n");
        return 2;
    }
    return 0;
}
