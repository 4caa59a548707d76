// bench_ring - LOBFLOW1 fed through the shared-memory ring into the real engine process loop
// ("ring" mode), once per wait strategy.
//
// The recorded flow (lobflow1_recording.h) is offered in batches of 64 by this process; a forked
// child runs EngineProcess (the udprouter-engine loop: journal with durability none, apply, publish)
// on the same segment; this process drains the outbound ring. ops/s counts the timed operations
// from the first offer to the last one's LAST event; latency per op = offer to its LAST event, so
// at full speed it is mostly queueing. In-run baseline: the ring's raw throughput between two
// processes (records/s, batches of 64, consumer only counting), printed first as mode "ring_raw".
// Totals computed from the events must equal the recording's, else exit 2.
#include "io_test_dir.h"
#include "lobflow1_recording.h"

#include "udprouter/engine/engine_process.h"
#include "udprouter/engine/ring.h"
#include "udprouter/engine/ring_shm.h"

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

using namespace udprouter::engine;
using namespace udprouter::bench;

namespace {

constexpr uint32_t kBatch = 64;
constexpr uint32_t kInbound = 4096, kOutbound = 16384;

struct Segment {
    std::string name;
    void *base = nullptr;
    std::size_t size = 0;
    udr_segment view{};
    int in_fd = -1, out_fd = -1;

    Segment(uint32_t in_cap, uint32_t out_cap)
    {
        name = "/udr-bench-ring-" + std::to_string(getpid());
        size = udr_segment_size(in_cap, out_cap);
        int err = 0;
        udr_shm_unlink(name.c_str()); // a leftover of a killed run
        base = udr_shm_create(name.c_str(), size, &err);
        if (base == nullptr || udr_segment_init(base, size, in_cap, out_cap) != UDR_SEGMENT_OK) {
            std::fprintf(stderr, "bench_ring: cannot create segment: %s\n", std::strerror(err));
            std::exit(3);
        }
        udr_segment_view(&view, base, size);
        in_fd = udr_eventfd_create();
        out_fd = udr_eventfd_create();
    }
    ~Segment()
    {
        close(in_fd);
        close(out_fd);
        udr_shm_detach(base, size);
        udr_shm_unlink(name.c_str());
    }
};

double seconds_since(std::chrono::steady_clock::time_point t0)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Raw ring throughput: the child only polls and counts.
double raw_records_per_s(const Lobflow1Recording &rec, uint64_t total)
{
    Segment seg(kInbound, 8);
    pid_t child = fork();
    if (child == 0) {
        udr_command out[kBatch];
        for (uint64_t got = 0; got < total;) got += udr_ring_poll(&seg.view.inbound, out, kBatch);
        _exit(0);
    }
    const auto t0 = std::chrono::steady_clock::now();
    const std::size_t n = rec.commands.size() - kBatch;
    for (uint64_t sent = 0; sent < total;) {
        const uint32_t want = static_cast<uint32_t>(std::min<uint64_t>(kBatch, total - sent));
        sent += udr_ring_offer(&seg.view.inbound, &rec.commands[sent % n], want);
    }
    int status = 0;
    waitpid(child, &status, 0);
    return static_cast<double>(total) / seconds_since(t0);
}

pid_t spawn_engine(const Segment &seg, const std::string &journal, uint32_t symbols, WaitStrategy wait)
{
    pid_t child = fork();
    if (child != 0) return child;
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, STDOUT_FILENO); // the READY line is read from the header instead
    EngineOptions o;
    o.shm_name = seg.name;
    o.inbound_eventfd = seg.in_fd;
    o.outbound_eventfd = seg.out_fd;
    o.journal_dir = journal;
    o.durability = Durability::None;
    o.config = lobflow1_config(symbols);
    o.wait = wait;
    EngineProcess process(o);
    _exit(process.run());
}

struct Driver {
    Driver(Segment &segment, std::size_t prefill_count, std::size_t timed)
        : seg(segment), sent_at(timed), prefill(prefill_count)
    {
        latency.reserve(timed);
    }

    Segment &seg;
    Lobflow1EventTotals counted;
    std::vector<uint64_t> sent_at;   // per timed command, offer tick
    std::vector<uint64_t> latency;   // per timed command
    std::size_t prefill;
    uint64_t answered = 0;
    udr_event events[256]{};

    void drain()
    {
        uint32_t n = udr_ring_poll(&seg.view.outbound, events, 256);
        if (n == 0) return;
        const uint64_t now = bench_ticks();
        for (uint32_t i = 0; i < n; ++i) {
            const udr_event &e = events[i];
            if (e.command_seq <= prefill) {
                answered += (e.flags & UDR_EVT_FLAG_LAST) != 0;
                continue;
            }
            counted.on_event(e);
            if (e.flags & UDR_EVT_FLAG_LAST) {
                latency.push_back(now - sent_at[e.command_seq - prefill - 1]);
                ++answered;
            }
        }
    }

    void send(const udr_command *cmds, std::size_t count, bool timed)
    {
        for (std::size_t sent = 0; sent < count || answered < count;) {
            if (sent < count) {
                const uint32_t want = static_cast<uint32_t>(std::min<std::size_t>(kBatch, count - sent));
                const uint64_t now = bench_ticks();
                const uint32_t n = udr_ring_offer(&seg.view.inbound, cmds + sent, want);
                if (timed)
                    for (uint32_t i = 0; i < n; ++i) sent_at[sent + i] = now;
                sent += n;
                if (udr_ring_producer_should_wake(&seg.view.inbound)) udr_eventfd_signal(seg.in_fd);
            }
            drain();
        }
    }
};

bool run_ring(const Lobflow1Recording &rec, WaitStrategy wait, double raw, double ns_per)
{
    Segment seg(kInbound, kOutbound);
    const udr_test::TempDir journal; // the child _exits: only this process removes it
    const pid_t child = spawn_engine(seg, journal.path(), rec.symbols, wait);
    const auto ready_by = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (__atomic_load_n(&seg.view.header->engine_state, __ATOMIC_ACQUIRE) != UDR_ENGINE_READY &&
           std::chrono::steady_clock::now() < ready_by)
        usleep(1000);
    Driver driver(seg, rec.prefill, rec.timed());
    driver.send(rec.commands.data(), rec.prefill, false);
    driver.answered = 0;
    const auto t0 = std::chrono::steady_clock::now();
    driver.send(rec.commands.data() + rec.prefill, rec.timed(), true);
    const double seconds = seconds_since(t0);
    udr_command terminate{};
    terminate.command_seq = rec.commands.size() + 1;
    terminate.kind = UDR_CMD_TERMINATE;
    while (udr_ring_offer(&seg.view.inbound, &terminate, 1) == 0) {
    }
    if (udr_ring_producer_should_wake(&seg.view.inbound)) udr_eventfd_signal(seg.in_fd);
    int status = 0;
    waitpid(child, &status, 0);
    const double rate = static_cast<double>(rec.timed()) / seconds;
    char extra[200];
    std::snprintf(extra, sizeof(extra),
                  ",\"batch\":64,\"wait\":\"%s\",\"durability\":\"none\",\"raw_records_per_s\":%.0f,\"vs_raw\":%.4f",
                  wait_strategy_name(wait), raw, rate / raw);
    print_bench_line({"ring", rec.symbols, rec.timed(), rate, percentile_ns(driver.latency, 0.5, ns_per),
                      percentile_ns(driver.latency, 0.99, ns_per), percentile_ns(driver.latency, 0.999, ns_per),
                      driver.counted.totals, extra});
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && same_totals(driver.counted.totals, rec.totals)) return true;
    std::fprintf(stderr, "bench_ring: wait %s: engine exit status %d, totals %s\n", wait_strategy_name(wait), status,
                 same_totals(driver.counted.totals, rec.totals) ? "match" : "DIFFER from the recording");
    return false;
}

} // namespace

int main(int argc, char **argv)
{
    uint32_t symbols = 100;
    uint64_t ops = 1'000'000, raw_records = 20'000'000;
    std::vector<WaitStrategy> waits{WaitStrategy::Spin, WaitStrategy::Hybrid};
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i], v = argv[i + 1];
        if (a == "--symbols") symbols = static_cast<uint32_t>(std::stoul(v));
        else if (a == "--ops") ops = std::stoull(v);
        else if (a == "--raw-records") raw_records = std::stoull(v);
        else if (a == "--wait" && (v == "spin" || v == "hybrid" || v == "sleep"))
            waits = {v == "spin" ? WaitStrategy::Spin : v == "sleep" ? WaitStrategy::Sleep : WaitStrategy::Hybrid};
        else {
            std::fprintf(stderr, "usage: bench_ring [--symbols N] [--ops M] [--raw-records M] [--wait spin|sleep|hybrid]\n");
            return 1;
        }
    }
    std::signal(SIGPIPE, SIG_IGN);
    const double ns_per = ns_per_tick();
    const Lobflow1Recording rec = record_lobflow1(symbols, ops);
    const double raw = raw_records_per_s(rec, raw_records);
    print_bench_line({"ring_raw", symbols, raw_records, raw, 0, 0, 0, {}, ",\"batch\":64,\"role\":\"baseline\",\"unit\":\"records\""});
    bool ok = true;
    for (WaitStrategy wait : waits) ok &= run_ring(rec, wait, raw, ns_per);
    return ok ? 0 : 2;
}
