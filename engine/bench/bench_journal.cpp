// bench_journal - LOBFLOW1 through the Engine with the journal on ("journal" mode).
//
// The recorded flow (lobflow1_recording.h) is fed in batches of 64 as the engine process does:
// append + commit the batch (durability os: one write(2); fsync: one fdatasync, on a shorter run),
// then apply each command. Per-op latency = from the batch's start to that command's events, so
// it includes its share of the journal write. In-run baseline: the same batches through the Engine
// without the journal ("core_batched"), so the journal's cost is the ratio. Totals must equal the
// recording's, else exit 2.
#include "io_test_dir.h"
#include "lobflow1_recording.h"

#include "udprouter/engine/journal_recovery.h"
#include "udprouter/engine/journal_store.h"

#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

using namespace udprouter::engine;
using namespace udprouter::bench;

namespace {

std::size_t g_batch = 64; // --batch: the engine process journals what one poll returns (up to 256)

struct Result {
    double ops_per_s = 0;
    double p50 = 0, p99 = 0, p999 = 0;
    Lobflow1Totals totals;
};

// journal == nullptr: the core baseline.
Result run(const Lobflow1Recording &rec, JournalStore *journal, double ns_per)
{
    Engine engine(lobflow1_config(rec.symbols));
    Lobflow1EventTotals counted;
    auto sink = [&counted](const udr_event &e) { counted.on_event(e); };
    const udr_command *cmds = rec.commands.data();
    for (std::size_t i = 0; i < rec.prefill; i += g_batch) {
        const std::size_t n = std::min(g_batch, rec.prefill - i);
        if (journal != nullptr && journal->append_batch(cmds + i, n) != JournalStatus::Ok) std::exit(3);
        for (std::size_t k = 0; k < n; ++k) engine.apply(cmds[i + k], [](const udr_event &) {});
    }
    std::vector<uint64_t> latency(rec.timed());
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = rec.prefill; i < rec.commands.size(); i += g_batch) {
        const std::size_t n = std::min(g_batch, rec.commands.size() - i);
        const uint64_t t0 = bench_ticks();
        if (journal != nullptr && journal->append_batch(cmds + i, n) != JournalStatus::Ok) std::exit(3);
        for (std::size_t k = 0; k < n; ++k) {
            engine.apply(cmds[i + k], sink);
            latency[i + k - rec.prefill] = bench_ticks() - t0;
        }
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    Result r;
    r.ops_per_s = static_cast<double>(rec.timed()) / seconds;
    r.p50 = percentile_ns(latency, 0.50, ns_per);
    r.p99 = percentile_ns(latency, 0.99, ns_per);
    r.p999 = percentile_ns(latency, 0.999, ns_per);
    r.totals = counted.totals;
    return r;
}

Result run_journaled(const Lobflow1Recording &rec, Durability durability, double ns_per)
{
    const udr_test::TempDir temp;
    if (temp.path().empty()) std::exit(3);
    const std::string &dir = temp.path();
    Result r;
    {
        JournalStore store(dir, durability, 0);
        Engine scratch(lobflow1_config(rec.symbols));
        RecoveryReport fresh = recover_from_journal(dir, scratch, {}, [](const udr_event &) {});
        if (store.open(fresh) != JournalStatus::Ok) std::exit(3);
        r = run(rec, &store, ns_per);
        store.close();
    }
    return r;
}

bool report(const char *mode, const Lobflow1Recording &rec, const Result &r, const char *extra)
{
    print_bench_line({mode, rec.symbols, rec.timed(), r.ops_per_s, r.p50, r.p99, r.p999, r.totals, extra});
    if (same_totals(r.totals, rec.totals)) return true;
    std::fprintf(stderr, "bench_journal: mode %s: totals differ from the recording\n", mode);
    return false;
}

} // namespace

int main(int argc, char **argv)
{
    uint32_t symbols = 100;
    uint64_t ops = 1'000'000, fsync_ops = 50'000;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        if (a == "--symbols") symbols = static_cast<uint32_t>(std::stoul(argv[i + 1]));
        else if (a == "--ops") ops = std::stoull(argv[i + 1]);
        else if (a == "--fsync-ops") fsync_ops = std::stoull(argv[i + 1]);
        else if (a == "--batch") g_batch = std::max<std::size_t>(1, std::stoull(argv[i + 1]));
        else {
            std::fprintf(stderr, "usage: bench_journal [--symbols N] [--ops M] [--fsync-ops M] [--batch B]\n");
            return 1;
        }
    }
    const double ns_per = ns_per_tick();
    const Lobflow1Recording rec = record_lobflow1(symbols, ops);
    bool ok = true;
    const Result core = run(rec, nullptr, ns_per);
    ok &= report("core_batched", rec, core, ",\"role\":\"baseline\"");
    const Result os = run_journaled(rec, Durability::Os, ns_per);
    char extra[160];
    std::snprintf(extra, sizeof(extra), ",\"batch\":%zu,\"durability\":\"os\",\"vs_baseline\":%.3f", g_batch,
                  os.ops_per_s / core.ops_per_s);
    ok &= report("journal", rec, os, extra);
    if (fsync_ops > 0) {
        const Lobflow1Recording short_rec = record_lobflow1(symbols, fsync_ops);
        const Result fs = run_journaled(short_rec, Durability::Fsync, ns_per);
        std::snprintf(extra, sizeof(extra), ",\"batch\":%zu,\"durability\":\"fsync\",\"vs_baseline\":%.3f", g_batch,
                      fs.ops_per_s / core.ops_per_s);
        ok &= report("journal", short_rec, fs, extra);
    }
    if (!ok) return 2;
    return 0;
}
