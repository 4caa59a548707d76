// Snapshots: a round trip restores the same state (digest) and the same future events; a
// corrupt, truncated or foreign snapshot is refused and leaves the state untouched.
#include "engine_test.h"

#include <cstdio>
#include <cstring>
#include <random>

using namespace udprouter::engine;

namespace {

EngineConfig config(bool smp = true, uint32_t terminal = EngineConfig::kTerminalLikeMaxOrders) {
    return EngineConfig{{InstrumentSpec{1, 1, 1, 200, 50}, InstrumentSpec{7, 5, 100, 1000, 50}}, 500, 8, smp, terminal};
}

// ORDER_STATUS of one of the last ClOrdIDs used (live, filled, canceled, evicted or never an order).
udr_command status_command(std::mt19937_64& rng, uint64_t seq, uint64_t cl) {
    udr_command c{};
    c.kind = UDR_CMD_ORDER_STATUS;
    c.command_seq = seq;
    c.session_id = 1 + static_cast<uint32_t>(rng() % 4);
    c.cl_ord_id = cl - rng() % std::min<uint64_t>(cl, 800);
    c.security_id = rng() % 2 ? 1 : 7;
    return c;
}

std::vector<uint8_t> bytes_of(std::FILE* file) {
    std::vector<uint8_t> bytes;
    for (int ch = std::fgetc(file); ch != EOF; ch = std::fgetc(file)) bytes.push_back(static_cast<uint8_t>(ch));
    std::fclose(file);
    return bytes;
}

bool load_bytes(Engine& engine, const std::vector<uint8_t>& bytes) {
    std::FILE* f = std::tmpfile();
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::rewind(f);
    const bool ok = engine.read_snapshot(f);
    std::fclose(f);
    return ok;
}

// The snapshot of an older version: the trailing sections it lacked (empty here) cut, its version
// number, a new checksum.
std::vector<uint8_t> as_version(std::vector<uint8_t> bytes, uint32_t version, size_t cut) {
    bytes.erase(bytes.end() - 8 - static_cast<std::ptrdiff_t>(cut), bytes.end());
    std::memcpy(bytes.data() + 8, &version, 4);
    uint64_t hash = 0xCBF29CE484222325ULL;
    for (uint8_t b : bytes) hash = (hash ^ b) * 0x100000001B3ULL;
    bytes.insert(bytes.end(), reinterpret_cast<uint8_t*>(&hash), reinterpret_cast<uint8_t*>(&hash) + 8);
    return bytes;
}

udr_command random_command(std::mt19937_64& rng, uint64_t seq, uint64_t& cl) {
    const uint32_t session = 1 + static_cast<uint32_t>(rng() % 4);
    const bool first = rng() % 2 == 0;
    udr_command c = udr_test::new_order(seq, session, ++cl, static_cast<uint8_t>(1 + rng() % 2),
                                        first ? static_cast<int64_t>(90 + rng() % 20) : static_cast<int64_t>(400 + 5 * (rng() % 20)),
                                        static_cast<uint32_t>(1 + rng() % 50), 0, 2, first ? 1 : 7);
    c.account = session % 3;
    if (rng() % 4 == 0) {
        c.kind = static_cast<uint8_t>(rng() % 2 ? UDR_CMD_CANCEL : UDR_CMD_REPLACE);
        c.orig_cl_ord_id = cl - 1 - rng() % std::min<uint64_t>(cl, 40);
    }
    return c;
}

} // namespace

using udr_test::same;
using udr_test::snapshot_of;

UDR_TEST(round_trip_restores_digest_and_future_events) {
    Engine original(config());
    std::mt19937_64 rng(7);
    uint64_t cl = 0;
    uint64_t seq = 0;
    for (int i = 0; i < 3000; ++i) {
        udr_test::apply(original, random_command(rng, ++seq, cl));
    }
    UDR_CHECK(original.live_orders() > 20);
    std::FILE* file = snapshot_of(original);
    Engine restored(config());
    UDR_CHECK(restored.read_snapshot(file));
    std::fclose(file);
    UDR_CHECK_EQ(restored.state_digest(), original.state_digest());
    UDR_CHECK_EQ(restored.last_command_seq(), original.last_command_seq());
    UDR_CHECK_EQ(restored.live_orders(), original.live_orders());
    UDR_CHECK_EQ(restored.terminal_orders().size(), 500u); // the ring went round: evictions carried on
    uint32_t terminal_answers = 0;
    for (int i = 0; i < 3000; ++i) {
        const udr_command c = random_command(rng, ++seq, cl);
        UDR_CHECK(same(udr_test::apply(original, c), udr_test::apply(restored, c)));
        const udr_command status = status_command(rng, ++seq, cl);
        const std::vector<udr_event> answer = udr_test::apply(original, status);
        UDR_CHECK(same(answer, udr_test::apply(restored, status)));
        const uint8_t ord_status = answer[0].reason;
        terminal_answers += (answer[0].flags & UDR_EVT_FLAG_REFUSED) == 0 && (ord_status == 2 || ord_status == 4);
    }
    UDR_CHECK(terminal_answers > 100);
    UDR_CHECK_EQ(restored.state_digest(), original.state_digest());
}

// A snapshot taken with a larger terminal table loads into a smaller one with the newest records:
// the same answers as an engine that ran with the smaller table from the start.
UDR_TEST(a_smaller_terminal_table_keeps_the_newest_records_of_a_snapshot) {
    Engine large(config(true, 400));
    Engine small(config(true, 100));
    std::mt19937_64 rng(11);
    uint64_t cl = 0;
    uint64_t seq = 0;
    for (int i = 0; i < 2000; ++i) {
        const udr_command c = random_command(rng, ++seq, cl);
        udr_test::apply(large, c);
        udr_test::apply(small, c);
    }
    Engine restored(config(true, 100));
    UDR_CHECK(load_bytes(restored, bytes_of(snapshot_of(large))));
    UDR_CHECK_EQ(restored.state_digest(), small.state_digest());
    Engine none(config(true, 0));
    UDR_CHECK(load_bytes(none, bytes_of(snapshot_of(large))));
    UDR_CHECK_EQ(none.terminal_orders().size(), 0u);
}

UDR_TEST(digest_changes_when_state_changes) {
    Engine engine(config());
    const uint64_t empty = engine.state_digest();
    udr_test::apply(engine, udr_test::new_order(1, 1, 1, 1, 100, 5));
    const uint64_t one = engine.state_digest();
    UDR_CHECK(one != empty);
    udr_test::apply(engine, udr_test::new_order(2, 1, 2, 1, 100, 5, 3));
    UDR_CHECK(engine.state_digest() != one); // an IOC that rests nothing still moves the marks
}

UDR_TEST(corrupt_truncated_or_foreign_snapshot_is_refused_and_state_kept) {
    Engine source(config());
    for (uint64_t i = 1; i <= 20; ++i) {
        udr_test::apply(source, udr_test::new_order(i, 1, i, 1, static_cast<int64_t>(50 + i), 3));
    }
    std::FILE* file = snapshot_of(source);
    std::vector<uint8_t> bytes(4096);
    bytes.resize(std::fread(bytes.data(), 1, bytes.size(), file));
    std::fclose(file);

    Engine target(config());
    udr_test::apply(target, udr_test::new_order(1, 2, 1, 2, 150, 3));
    const uint64_t before = target.state_digest();
    auto load = [&target](const std::vector<uint8_t>& data) {
        std::FILE* f = std::tmpfile();
        if (!data.empty()) std::fwrite(data.data(), 1, data.size(), f);
        std::rewind(f);
        const bool ok = target.read_snapshot(f);
        std::fclose(f);
        return ok;
    };
    for (size_t at : {size_t{0}, size_t{9}, size_t{60}, bytes.size() / 2, bytes.size() - 1}) {
        std::vector<uint8_t> corrupt = bytes;
        corrupt[at] ^= 0x40;
        UDR_CHECK(!load(corrupt));
    }
    UDR_CHECK(!load(std::vector<uint8_t>(bytes.begin(), bytes.end() - 9)));
    UDR_CHECK(!load({}));
    UDR_CHECK_EQ(target.state_digest(), before);

    Engine other(config(false));
    std::FILE* f = std::tmpfile();
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::rewind(f);
    UDR_CHECK(!other.read_snapshot(f));
    std::fclose(f);
    UDR_CHECK(load(bytes));
    UDR_CHECK_EQ(target.state_digest(), source.state_digest());
}

// Version 1 (before account controls) and version 2 (before the terminal table) snapshots still
// load: with no account entries and no terminal orders.
UDR_TEST(snapshots_of_earlier_versions_load) {
    Engine engine(config(true, 0)); // no terminal orders: what a version 1 or 2 snapshot describes
    std::mt19937_64 rng(5);
    uint64_t cl = 0;
    for (uint64_t seq = 1; seq <= 300; ++seq) engine.apply(random_command(rng, seq, cl), [](const udr_event&) {});
    const std::vector<uint8_t> bytes = bytes_of(snapshot_of(engine));
    Engine v2(config());
    UDR_CHECK(load_bytes(v2, as_version(bytes, 2, 4))); // without the terminal count
    UDR_CHECK_EQ(v2.state_digest(), engine.state_digest());
    Engine v1(config());
    UDR_CHECK(load_bytes(v1, as_version(bytes, 1, 8))); // without the account and terminal counts
    UDR_CHECK_EQ(v1.state_digest(), engine.state_digest());
    Engine bad(config());
    UDR_CHECK(!load_bytes(bad, as_version(bytes, 2, 0))); // a version 2 with a section too many
}

// The writer thread seals a snapshot in steps (a pause between them): the checksum is the one a
// single pass over the bytes gives (the reader's), and the pause runs between steps only.
UDR_TEST(a_checksum_sealed_in_steps_is_the_one_pass_checksum) {
    for (size_t size : {size_t{0}, size_t{1000}, Engine::kSealStep, Engine::kSealStep * 2 + 17}) {
        std::vector<uint8_t> state(size);
        for (size_t i = 0; i < size; ++i) state[i] = static_cast<uint8_t>(i * 7 + (i >> 9));
        uint64_t reference = 0xCBF29CE484222325ULL; // FNV-1a, 64-bit, over every byte at once
        for (uint8_t byte : state) reference = (reference ^ byte) * 0x100000001B3ULL;
        int pauses = 0;
        Engine::seal_snapshot(state, [&pauses] { ++pauses; });
        UDR_CHECK_EQ(state.size(), size + 8);
        uint64_t sealed = 0;
        std::memcpy(&sealed, state.data() + size, 8);
        UDR_CHECK_EQ(sealed, reference);
        UDR_CHECK_EQ(pauses, size == 0 ? 0 : static_cast<int>((size - 1) / Engine::kSealStep));
    }
}
