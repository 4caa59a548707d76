#include "udprouter/engine/terminal_orders.h"

#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace udprouter::engine {

// The stage to the ring around the cache (the engine is one thread, which sees its own streaming
// stores in order). A full stage starts at a multiple of 8 records, so on a line of the (page-
// aligned) ring: it is written as whole lines.
void TerminalOrders::flush() {
    TerminalOrder* to = &ring_[stage_base()];
#if defined(__x86_64__)
    if (staged_ == kStage) {
        constexpr size_t kChunks = kStage * sizeof(TerminalOrder) / sizeof(__m128i);
        static_assert(kStage * sizeof(TerminalOrder) % 64 == 0, "a stage is whole cache lines");
        const auto* from = reinterpret_cast<const __m128i*>(stage_);
        auto* out = reinterpret_cast<__m128i*>(to);
        for (size_t i = 0; i < kChunks; ++i) {
            _mm_stream_si128(out + i, _mm_load_si128(from + i));
        }
    } else {
        // The ring's last few positions (a capacity not a multiple of 8).
        for (uint32_t r = 0; r < staged_; ++r) {
            long long words[sizeof(TerminalOrder) / 8];
            std::memcpy(words, &stage_[r], sizeof words);
            auto* out = reinterpret_cast<long long*>(to + r);
            for (size_t w = 0; w < sizeof words / 8; ++w) {
                _mm_stream_si64(out + w, words[w]);
            }
        }
    }
#else
    std::memcpy(to, stage_, size_t{staged_} * sizeof(TerminalOrder));
#endif
    staged_ = 0;
}

uint64_t TerminalOrders::catch_up(uint64_t budget) {
    if (capacity_ == 0) {
        return 0;
    }
    // Records overwritten before they were indexed are skipped: their positions hold newer ones.
    if (written_ - indexed_ > capacity_) {
        indexed_ = written_ - capacity_;
    }
    const uint64_t end = written_ - indexed_ > budget ? indexed_ + budget : written_;
    for (uint64_t n = indexed_; n < end; ++n) {
        const auto pos = static_cast<uint32_t>(n % capacity_);
        if (n + kCatchUpAhead < end) {
            // The index lines of a record further on: a long catch-up's misses overlap.
            const auto ahead = static_cast<uint32_t>((n + kCatchUpAhead) % capacity_);
            const TerminalOrder& t = at(ahead);
            index_.prefetch(index_.prepare(t.session_id, t.cl_ord_id));
            index_.prefetch(decltype(index_)::Prepared{tags_[ahead]});
        }
        // The entry the position was last indexed under (if it is still there), then the record now
        // there. tags_ is only read back for a position indexed before, so its first value is moot.
        if (n >= capacity_) {
            index_.erase_if_present(decltype(index_)::Prepared{tags_[pos]}, pos);
        }
        const TerminalOrder& t = at(pos);
        const auto key = index_.prepare(t.session_id, t.cl_ord_id);
        tags_[pos] = key.tag;
        if (t.status != kDropped) {
            index_.insert(key, pos);
        }
    }
    indexed_ = end;
    return written_ - indexed_;
}

uint32_t TerminalOrders::drop_session(uint32_t session_id) {
    uint32_t dropped = 0;
    for (uint32_t pos = 0; pos < size_; ++pos) {
        TerminalOrder& r = at(pos);
        if (r.session_id == session_id && r.status != kDropped) {
            r.status = kDropped; // its index entry, if any, now matches no lookup
            ++dropped;
        }
    }
    return dropped;
}

} // namespace udprouter::engine
