// Randomized differential test: the Engine against the naive ReferenceEngine on the same seeded
// commands (valid and invalid, every kind, two instruments, shared accounts, a small pool),
// comparing every field of every event. The fast engine is also snapshotted and restored into a
// fresh engine every 25,000 commands. Default 4,000,000 commands; `--commands N` for more.
// `--deep` concentrates Day limit orders on three levels per side with larger pools, so level
// queues grow long and their tombstone compaction (queue_slab.h) runs thousands of times.
#include "reference_engine.h"
#include "scenario.h"
#include "test_harness.h"

#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>

using namespace udprouter::engine;

constexpr uint8_t kUnknownCommandKind = 200; // no UDR_CMD_* has it

namespace {

bool g_deep = false;                         // --deep: long queues on few levels
size_t history() { return g_deep ? 400 : 24; } // remembered ClOrdIDs per session

struct Sent {
    uint64_t cl;
    int32_t sec;
    uint8_t side;
};

class CommandGenerator {
public:
    CommandGenerator(uint64_t seed, const EngineConfig& config)
        : rng_(seed), config_(config), marks_(config.max_sessions + 2, 0), sent_(config.max_sessions + 2),
          live_(config.max_sessions + 2) {}

    udr_command next() {
        udr_command c{};
        pending_day_ = false;
        c.command_seq = ++seq_;
        c.session_id = pick(100) == 0 ? config_.max_sessions + 1 : 1 + pick(config_.max_sessions);
        c.account = c.session_id % 3;
        c.cl_ord_id = pick(40) == 0 ? pick(marks_[c.session_id] + 1) : (marks_[c.session_id] += 1 + pick(3));
        const uint32_t roll = pick(100);
        if (roll < 66) {
            fill_new(c, roll);
        } else if (roll < 97 && !sent_[c.session_id].empty()) {
            fill_cancel_or_replace(c, roll < 84 ? UDR_CMD_CANCEL : UDR_CMD_REPLACE);
        } else {
            fill_new(c, 0);
            // An unknown command kind (every kind up to UDR_CMD_RESET_SESSION is a real one).
            c.kind = static_cast<uint8_t>(pick(3) == 0 ? kUnknownCommandKind : UDR_CMD_NEW_ORDER);
            c.side = static_cast<uint8_t>(pick(4));
            c.ord_type = static_cast<uint8_t>(pick(4));
            c.time_in_force = static_cast<uint8_t>(pick(6));
        }
        return c;
    }

    // Follows the reference's events so that most cancels and replaces name a live order.
    void observe(const std::vector<udr_event>& events) {
        for (const udr_event& e : events) {
            if (e.session_id >= live_.size()) continue;
            std::vector<Sent>& live = live_[e.session_id];
            const bool gone = (e.kind == UDR_EVT_TRADE && e.leaves_qty == 0) || e.kind == UDR_EVT_CANCELED ||
                              e.kind == UDR_EVT_REPLACED;
            if (gone) {
                const uint64_t cl = e.kind == UDR_EVT_TRADE ? e.cl_ord_id : e.orig_cl_ord_id;
                for (size_t i = 0; i < live.size(); ++i) {
                    if (live[i].cl == cl) { live[i] = live.back(); live.pop_back(); break; }
                }
            }
            const bool rests = (e.kind == UDR_EVT_ACCEPTED && pending_day_) || (e.kind == UDR_EVT_REPLACED && e.leaves_qty > 0);
            if (rests) live.push_back(Sent{e.cl_ord_id, e.security_id, e.side});
        }
        // A resting order that traded away in full right after ACCEPTED is removed above (leaves 0).
    }

private:
    uint32_t pick(uint64_t n) { return static_cast<uint32_t>(rng_() % n); }

    const InstrumentSpec& instrument(udr_command& c) {
        const InstrumentSpec& s = config_.instruments[pick(config_.instruments.size())];
        c.security_id = pick(200) == 0 ? 999 : s.security_id;
        return s;
    }

    int64_t price(const InstrumentSpec& s) {
        const int64_t mid = (s.min_price / s.tick + s.max_price / s.tick) / 2;
        int64_t p = (mid + static_cast<int64_t>(pick(17)) - 8) * s.tick;
        const uint32_t odd = pick(200);
        if (odd == 0) p += 1;                  // off tick (tick > 1) or a neighbour (tick 1)
        if (odd == 1) p = s.max_price + s.tick; // out of band
        if (odd == 2) p = s.min_price - s.tick;
        return p;
    }

    uint32_t qty(const InstrumentSpec& s) {
        const uint32_t odd = pick(200);
        if (odd == 0) return 0;
        if (odd == 1) return s.max_qty + 1;
        return 1 + pick(s.max_qty);
    }

    void fill_new(udr_command& c, uint32_t roll) {
        const InstrumentSpec& s = instrument(c);
        c.kind = UDR_CMD_NEW_ORDER;
        pending_day_ = roll < 50;
        c.side = static_cast<uint8_t>(1 + pick(2));
        c.ord_type = roll >= 62 ? 1 : 2;
        c.time_in_force = roll < 50 ? 0 : roll < 58 ? 3 : roll < 62 ? 4 : static_cast<uint8_t>(pick(3) == 0 ? 0 : 3 + pick(2));
        c.price = c.ord_type == 1 && pick(2) ? 0 : price(s);
        if (g_deep && c.ord_type == 2 && c.time_in_force == 0 && pick(10) != 0) {
            const int64_t mid = (s.min_price / s.tick + s.max_price / s.tick) / 2;
            const int64_t away = 1 + static_cast<int64_t>(pick(3));
            c.price = (c.side == 1 ? mid - away : mid + away) * s.tick;
        }
        c.order_qty = qty(s);
        std::vector<Sent>& sent = sent_[c.session_id];
        sent.push_back(Sent{c.cl_ord_id, c.security_id, c.side});
        if (sent.size() > history()) sent.erase(sent.begin());
    }

    void fill_cancel_or_replace(udr_command& c, uint8_t kind) {
        // Mostly a live order of the session, sometimes any remembered id or another session's.
        const uint32_t from = pick(20) == 0 ? 1 + pick(config_.max_sessions) : c.session_id;
        const std::vector<Sent>& live = live_[from];
        const std::vector<Sent>& sent = sent_[from].empty() ? sent_[c.session_id] : sent_[from];
        const Sent target = (!live.empty() && pick(6) != 0) ? live[pick(live.size())] : sent[pick(sent.size())];
        c.kind = kind;
        c.orig_cl_ord_id = target.cl;
        c.security_id = target.sec;
        c.side = pick(20) == 0 ? static_cast<uint8_t>(3 - target.side) : target.side;
        const InstrumentSpec* spec = &config_.instruments[0];
        for (const InstrumentSpec& s : config_.instruments) {
            if (s.security_id == target.sec) spec = &s;
        }
        if (kind == UDR_CMD_REPLACE) {
            c.ord_type = 2;
            c.price = price(*spec);
            c.order_qty = qty(*spec);
        }
        if (kind == UDR_CMD_REPLACE) {
            std::vector<Sent>& own = sent_[c.session_id];
            own.push_back(Sent{c.cl_ord_id, target.sec, c.side});
            if (own.size() > history()) own.erase(own.begin());
        }
    }

    std::mt19937_64 rng_;
    const EngineConfig& config_;
    std::vector<uint64_t> marks_;
    std::vector<std::vector<Sent>> sent_;
    std::vector<std::vector<Sent>> live_;
    bool pending_day_ = false;
    uint64_t seq_ = 0;
};

EngineConfig config_for(uint64_t seed) {
    return EngineConfig{{InstrumentSpec{1, 1, 1, 200, 20}, InstrumentSpec{7, 5, 500, 1500, 50}},
                        seed % 4 == 0   ? 12u
                        : g_deep        ? static_cast<uint32_t>(300 + seed % 3 * 900)
                                        : static_cast<uint32_t>(48 + seed % 3 * 40),
                        5, seed % 2 == 1};
}

std::unique_ptr<Engine> restored(const Engine& engine, const EngineConfig& config) {
    std::FILE* file = std::tmpfile();
    engine.write_snapshot(file);
    std::rewind(file);
    auto fresh = std::make_unique<Engine>(config);
    const bool ok = fresh->read_snapshot(file);
    std::fclose(file);
    return ok ? std::move(fresh) : nullptr;
}

void report(const udr_command& c, const std::vector<udr_event>& got, const std::vector<udr_event>& want) {
    std::fprintf(stderr, "command seq=%llu kind=%u sess=%u cl=%llu orig=%llu sec=%d side=%u type=%u tif=%u px=%lld qty=%u\n",
                 static_cast<unsigned long long>(c.command_seq), c.kind, c.session_id,
                 static_cast<unsigned long long>(c.cl_ord_id), static_cast<unsigned long long>(c.orig_cl_ord_id),
                 c.security_id, c.side, c.ord_type, c.time_in_force, static_cast<long long>(c.price), c.order_qty);
    for (const udr_event& e : want) std::fprintf(stderr, "  want %s\n", udr_test::describe(e).c_str());
    for (const udr_event& e : got) std::fprintf(stderr, "  got  %s\n", udr_test::describe(e).c_str());
}

// Events compared, by kind then reason: printed so a run shows what it covered.
uint64_t g_seen[8][256];

// Returns the number of events compared; records a failure and stops at the first difference.
uint64_t run_seed(uint64_t seed, uint64_t commands) {
    const EngineConfig config = config_for(seed);
    auto engine = std::make_unique<Engine>(config);
    udr_test::ReferenceEngine reference(config);
    CommandGenerator generator(seed, config);
    std::vector<udr_event> got;
    uint64_t compared = 0;
    for (uint64_t i = 1; i <= commands; ++i) {
        const udr_command c = generator.next();
        got.clear();
        engine->apply(c, [&got](const udr_event& e) { got.push_back(e); });
        const std::vector<udr_event> want = reference.apply(c);
        generator.observe(want);
        compared += want.size();
        for (const udr_event& e : want) ++g_seen[e.kind & 7][e.reason];
        if (got.size() != want.size() || std::memcmp(got.data(), want.data(), got.size() * sizeof(udr_event)) != 0 ||
            engine->live_orders() != reference.live_orders()) {
            udr_test::fail(__FILE__, __LINE__, "seed " + std::to_string(seed) + " diverged at command " + std::to_string(i));
            report(c, got, want);
            return compared;
        }
        if (i % 25000 == 0) {
            const uint64_t digest = engine->state_digest();
            engine = restored(*engine, config);
            UDR_CHECK(engine != nullptr);
            if (!engine) return compared;
            UDR_CHECK_EQ(engine->state_digest(), digest);
        }
    }
    return compared;
}

} // namespace

UDR_TEST(engine_matches_the_naive_reference_event_for_event) {
    uint64_t total = 4'000'000;
    const auto& args = udr_test::args();
    for (size_t i = 0; i + 1 < args.size(); ++i) {
        if (args[i] == "--commands") total = std::stoull(args[i + 1]);
    }
    for (const std::string& arg : args) {
        if (arg == "--deep") g_deep = true;
    }
    constexpr uint64_t kSeeds = 8;
    uint64_t events = 0;
    for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
        events += run_seed(seed, total / kSeeds);
    }
    for (unsigned kind = 1; kind <= 6; ++kind) {
        std::printf("  kind %u:", kind);
        for (unsigned reason = 0; reason < 256; ++reason) {
            if (g_seen[kind][reason]) std::printf(" r%u=%llu", reason, static_cast<unsigned long long>(g_seen[kind][reason]));
        }
        std::printf("\n");
    }
    std::printf("  %llu commands, %llu events compared\n", static_cast<unsigned long long>(total / kSeeds * kSeeds),
                static_cast<unsigned long long>(events));
}
