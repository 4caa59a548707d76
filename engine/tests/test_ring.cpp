// test_ring.cpp - ring.h from C++: wrap-around, full ring as a returned count, peek/release,
// attach checks, the wake protocol, the published tail, and a two-thread SPSC run.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <unistd.h>

#include "test_harness.h"
#include "udprouter/engine/ring.h"
#include "udprouter/engine/ring_shm.h"

namespace {

// A segment in ordinary memory: the ring logic does not care where the mapping comes from.
struct HeapSegment {
    std::size_t size;
    void *base;
    udr_segment seg{};
    HeapSegment(uint32_t in_cap, uint32_t out_cap) : size(udr_segment_size(in_cap, out_cap))
    {
        base = std::aligned_alloc(64, size);
        std::memset(base, 0xEE, size); // init must not rely on zeroed memory
        UDR_CHECK_EQ(udr_segment_init(base, size, in_cap, out_cap), UDR_SEGMENT_OK);
        udr_segment_view(&seg, base, size);
    }
    ~HeapSegment() { std::free(base); }
};

udr_command command(uint64_t seq)
{
    udr_command c{};
    c.command_seq = seq;
    c.cl_ord_id = seq * 3;
    c.kind = UDR_CMD_NEW_ORDER;
    return c;
}

} // namespace

UDR_TEST(layout_places_counters_and_records_on_cache_lines)
{
    HeapSegment s(8, 16);
    auto *b = static_cast<unsigned char *>(s.base);
    UDR_CHECK_EQ(s.size, std::size_t{640 + 24 * 64});
    UDR_CHECK(reinterpret_cast<unsigned char *>(s.seg.inbound.counters) == b + 256);
    UDR_CHECK(reinterpret_cast<unsigned char *>(s.seg.outbound.counters) == b + 256 + 192);
    UDR_CHECK(s.seg.inbound.slots == b + 640);
    UDR_CHECK(s.seg.outbound.slots == b + 640 + 8 * 64);
    UDR_CHECK_EQ(s.seg.inbound.counters->producer_position, 0u);
    UDR_CHECK_EQ(s.seg.header->engine_state, static_cast<uint32_t>(UDR_ENGINE_ABSENT));
}

UDR_TEST(header_holds_the_router_logged_position_at_offset_72_initially_no_log)
{
    static_assert(UDR_LAYOUT_VERSION == 2, "layout 2 added router_logged_through");
    static_assert(offsetof(udr_segment_header, router_logged_through) == 72, "ABI offset");
    static_assert(offsetof(udr_segment_header, journal_append_buckets) == 80, "ABI offset");
    static_assert(offsetof(udr_segment_header, journal_fsync_buckets) == 152, "ABI offset");
    static_assert(offsetof(udr_segment_header, low_rate_spin_ns) == 224, "ABI offset");
    static_assert(offsetof(udr_segment_header, short_spins_caught) == 232, "ABI offset");
    static_assert(offsetof(udr_segment_header, short_spins_skipped) == 248, "ABI offset");
    HeapSegment s(8, 8);
    uint64_t stored = 0;
    std::memcpy(&stored, static_cast<unsigned char *>(s.base) + 72, sizeof stored);
    UDR_CHECK_EQ(stored, UINT64_MAX);
    UDR_CHECK_EQ(s.seg.header->layout_version, 2u);
}

UDR_TEST(full_ring_accepts_what_fits_and_counts_each_refusing_offer)
{
    HeapSegment s(8, 8);
    udr_command batch[12];
    for (int i = 0; i < 12; ++i) batch[i] = command(i + 1);
    UDR_CHECK_EQ(udr_ring_offer(&s.seg.inbound, batch, 12), 8u);
    UDR_CHECK_EQ(s.seg.inbound.counters->full_events, 1u);
    UDR_CHECK_EQ(udr_ring_offer(&s.seg.inbound, batch + 8, 4), 0u);
    UDR_CHECK_EQ(s.seg.inbound.counters->full_events, 2u);
    UDR_CHECK_EQ(udr_ring_occupancy(&s.seg.inbound), 8u);
    udr_command out[8];
    UDR_CHECK_EQ(udr_ring_poll(&s.seg.inbound, out, 8), 8u);
    UDR_CHECK_EQ(out[7].command_seq, 8u);
    UDR_CHECK_EQ(udr_ring_offer(&s.seg.inbound, batch + 8, 4), 4u);
    UDR_CHECK_EQ(s.seg.inbound.counters->full_events, 2u);
}

UDR_TEST(records_keep_their_order_across_many_wraps)
{
    HeapSegment s(16, 16);
    uint64_t produced = 0, consumed = 0;
    udr_command batch[7], out[5];
    for (int round = 0; round < 10'000; ++round) {
        for (int i = 0; i < 7; ++i) batch[i] = command(produced + 1 + i);
        produced += udr_ring_offer(&s.seg.inbound, batch, 7);
        uint32_t n = udr_ring_poll(&s.seg.inbound, out, 5);
        for (uint32_t i = 0; i < n; ++i) {
            ++consumed;
            if (out[i].command_seq != consumed || out[i].cl_ord_id != consumed * 3) UDR_CHECK(false);
        }
    }
    UDR_CHECK(produced > 40'000);
    UDR_CHECK_EQ(udr_ring_occupancy(&s.seg.inbound), produced - consumed);
}

UDR_TEST(peek_stops_at_the_wrap_and_release_frees_exactly_what_was_used)
{
    HeapSegment s(8, 8);
    udr_command batch[8];
    for (int i = 0; i < 8; ++i) batch[i] = command(i + 1);
    UDR_CHECK_EQ(udr_ring_offer(&s.seg.inbound, batch, 6), 6u);
    udr_command out[6];
    UDR_CHECK_EQ(udr_ring_poll(&s.seg.inbound, out, 6), 6u);
    for (int i = 0; i < 8; ++i) batch[i] = command(7 + i);
    UDR_CHECK_EQ(udr_ring_offer(&s.seg.inbound, batch, 5), 5u); // slots 6, 7, 0, 1, 2
    const void *first = nullptr;
    UDR_CHECK_EQ(udr_ring_peek(&s.seg.inbound, 64, &first), 2u);
    UDR_CHECK_EQ(static_cast<const udr_command *>(first)[0].command_seq, 7u);
    UDR_CHECK_EQ(udr_ring_occupancy(&s.seg.inbound), 5u); // peek frees nothing
    udr_ring_release(&s.seg.inbound, 2);
    UDR_CHECK_EQ(udr_ring_peek(&s.seg.inbound, 2, &first), 2u);
    UDR_CHECK_EQ(static_cast<const udr_command *>(first)[1].command_seq, 10u);
    udr_ring_release(&s.seg.inbound, 2);
    UDR_CHECK_EQ(udr_ring_occupancy(&s.seg.inbound), 1u);
}

UDR_TEST(check_names_each_header_mismatch_with_its_own_code)
{
    HeapSegment s(8, 8);
    UDR_CHECK_EQ(udr_segment_check(s.base, s.size), UDR_SEGMENT_OK);
    UDR_CHECK_EQ(udr_segment_check(s.base, 100), UDR_SEGMENT_TOO_SMALL);
    UDR_CHECK_EQ(udr_segment_check(s.base, s.size + 64), UDR_SEGMENT_SIZE_MISMATCH);
    s.seg.header->layout_version = UDR_LAYOUT_VERSION - 1;
    UDR_CHECK_EQ(udr_segment_check(s.base, s.size), UDR_SEGMENT_BAD_LAYOUT_VERSION);
    s.seg.header->layout_version = UDR_LAYOUT_VERSION;
    s.seg.header->record_size = 128;
    UDR_CHECK_EQ(udr_segment_check(s.base, s.size), UDR_SEGMENT_BAD_RECORD_SIZE);
    s.seg.header->record_size = UDR_RECORD_SIZE;
    s.seg.header->outbound_capacity = 12;
    UDR_CHECK_EQ(udr_segment_check(s.base, s.size), UDR_SEGMENT_BAD_CAPACITY);
    s.seg.header->outbound_capacity = 8;
    s.seg.header->magic = 1;
    UDR_CHECK_EQ(udr_segment_check(s.base, s.size), UDR_SEGMENT_BAD_MAGIC);
    UDR_CHECK(std::strstr(udr_segment_check_message(UDR_SEGMENT_BAD_MAGIC), "magic") != nullptr);
    UDR_CHECK_EQ(udr_segment_init(s.base, s.size, 8, 6), UDR_SEGMENT_BAD_CAPACITY);
}

UDR_TEST(producer_wakes_a_sleeping_consumer_once_through_the_eventfd)
{
    HeapSegment s(8, 8);
    int fd = udr_eventfd_create();
    UDR_CHECK(fd >= 0);
    UDR_CHECK_EQ(udr_ring_consumer_prepare_sleep(&s.seg.inbound), 1);
    udr_command c = command(1);
    UDR_CHECK_EQ(udr_ring_offer(&s.seg.inbound, &c, 1), 1u);
    UDR_CHECK_EQ(udr_ring_producer_should_wake(&s.seg.inbound), 1);
    UDR_CHECK_EQ(udr_eventfd_signal(fd), 0);
    UDR_CHECK_EQ(udr_ring_producer_should_wake(&s.seg.inbound), 0);
    UDR_CHECK_EQ(udr_eventfd_wait(fd, 1000), 1);
    UDR_CHECK_EQ(udr_eventfd_wait(fd, 0), 0);
    // Records already waiting: the consumer withdraws its sleep instead of blocking.
    UDR_CHECK_EQ(udr_ring_consumer_prepare_sleep(&s.seg.inbound), 0);
    UDR_CHECK_EQ(s.seg.inbound.counters->consumer_sleeping, 0u);
    close(fd);
}

UDR_TEST(published_tail_reports_the_last_command_and_its_events_at_the_tail)
{
    HeapSegment s(8, 4);
    uint64_t seq = 0;
    int last = 0;
    uint32_t count = 0;
    UDR_CHECK_EQ(udr_ring_published_tail(&s.seg.outbound, &seq, &last, &count), 0);
    udr_event e[3]{};
    e[0].command_seq = 5;
    e[0].flags = UDR_EVT_FLAG_LAST;
    e[1].command_seq = 6;
    e[2].command_seq = 6;
    UDR_CHECK_EQ(udr_ring_offer(&s.seg.outbound, e, 3), 3u);
    UDR_CHECK_EQ(udr_ring_published_tail(&s.seg.outbound, &seq, &last, &count), 1);
    UDR_CHECK(seq == 6 && last == 0 && count == 2);
    udr_event out[3];
    UDR_CHECK_EQ(udr_ring_poll(&s.seg.outbound, out, 3), 3u); // consumed slots still tell the story
    e[0].command_seq = 6;
    e[0].flags = UDR_EVT_FLAG_LAST;
    UDR_CHECK_EQ(udr_ring_offer(&s.seg.outbound, e, 1), 1u);
    UDR_CHECK_EQ(udr_ring_published_tail(&s.seg.outbound, &seq, &last, &count), 1);
    UDR_CHECK(seq == 6 && last == 1 && count == 3);
}

UDR_TEST(shared_memory_segment_created_is_attached_by_name)
{
    const std::string name = "/udr-test-ring-" + std::to_string(getpid());
    const std::size_t size = udr_segment_size(16, 16);
    int err = 0;
    void *base = udr_shm_create(name.c_str(), size, &err);
    UDR_CHECK(base != nullptr);
    UDR_CHECK_EQ(udr_segment_init(base, size, 16, 16), UDR_SEGMENT_OK);
    UDR_CHECK(udr_shm_create(name.c_str(), size, &err) == nullptr && err == EEXIST);
    std::size_t attached_size = 0;
    void *other = udr_shm_attach(name.c_str(), &attached_size, &err);
    UDR_CHECK(other != nullptr && attached_size == size);
    UDR_CHECK_EQ(udr_segment_check(other, attached_size), UDR_SEGMENT_OK);
    UDR_CHECK_EQ(udr_shm_detach(other, attached_size), 0);
    UDR_CHECK_EQ(udr_shm_detach(base, size), 0);
    UDR_CHECK_EQ(udr_shm_unlink(name.c_str()), 0);
    UDR_CHECK(udr_shm_attach(name.c_str(), &attached_size, &err) == nullptr && err == ENOENT);
}

UDR_TEST(two_threads_pass_a_million_records_in_order)
{
    HeapSegment s(1024, 8);
    constexpr uint64_t kTotal = 1'000'000;
    std::atomic<bool> consumer_ok{true};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    std::thread consumer([&] {
        udr_segment view{};
        udr_segment_view(&view, s.base, s.size);
        udr_command out[64];
        uint64_t next = 1;
        while (next <= kTotal && std::chrono::steady_clock::now() < deadline) {
            uint32_t n = udr_ring_poll(&view.inbound, out, 64);
            for (uint32_t i = 0; i < n; ++i, ++next)
                if (out[i].command_seq != next || out[i].cl_ord_id != next * 3) consumer_ok = false;
            if (n == 0) std::this_thread::yield();
        }
        if (next != kTotal + 1) consumer_ok = false;
    });
    udr_command batch[64];
    for (uint64_t sent = 0; sent < kTotal && std::chrono::steady_clock::now() < deadline;) {
        uint32_t want = static_cast<uint32_t>(std::min<uint64_t>(64, kTotal - sent));
        for (uint32_t i = 0; i < want; ++i) batch[i] = command(sent + 1 + i);
        uint32_t n = udr_ring_offer(&s.seg.inbound, batch, want);
        sent += n;
        if (n == 0) std::this_thread::yield();
    }
    consumer.join();
    UDR_CHECK(consumer_ok.load());
}
