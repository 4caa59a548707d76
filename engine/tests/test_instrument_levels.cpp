// Instrument::level_of (a multiply by the tick's reciprocal, no divide) against plain division:
// every on-tick price of a band gets its level, every other price in the band is OffTick, and
// anything outside is OutOfBand, for ticks from 1 to the largest a 2^20-level band allows.
#include "test_harness.h"

#include "udprouter/engine/instrument.h"

#include <cstdint>
#include <initializer_list>

using namespace udprouter::engine;

namespace {

// The answer by division, for a price inside [min_price, max_price].
PriceCheck by_division(const InstrumentSpec& s, int64_t price, uint32_t& level) {
    const uint64_t offset = static_cast<uint64_t>(price) - static_cast<uint64_t>(s.min_price);
    const uint64_t tick = static_cast<uint64_t>(s.tick);
    if (offset % tick != 0) {
        return PriceCheck::OffTick;
    }
    level = static_cast<uint32_t>(offset / tick);
    return PriceCheck::Ok;
}

void check_price(const Instrument& instrument, int64_t price) {
    const InstrumentSpec& s = instrument.spec();
    uint32_t got = 0xFFFFFFFFu;
    const PriceCheck check = instrument.level_of(price, got);
    if (price < s.min_price || price > s.max_price) {
        UDR_CHECK(check == PriceCheck::OutOfBand);
        return;
    }
    uint32_t want = 0xFFFFFFFFu;
    const PriceCheck expected = by_division(s, price, want);
    UDR_CHECK(check == expected);
    if (expected == PriceCheck::Ok) {
        UDR_CHECK_EQ(got, want);
        UDR_CHECK_EQ(instrument.price_of(got), price);
    }
}

// Each level's price and its neighbours (one off, half a tick off, one tick short), every
// `stride` levels, plus both band edges and just past them.
void check_band(int64_t tick, int64_t min_level, uint32_t levels, uint32_t stride) {
    const InstrumentSpec spec{1, tick, min_level * tick, (min_level + levels - 1) * tick, 1};
    const Instrument instrument(spec);
    for (uint64_t l = 0; l < levels; l += stride) {
        const int64_t price = spec.min_price + static_cast<int64_t>(l) * tick;
        for (const int64_t delta : {int64_t{0}, int64_t{1}, int64_t{-1}, tick / 2, tick - 1, -(tick / 2)}) {
            if ((delta > 0 && price > INT64_MAX - delta) || (delta < 0 && price < INT64_MIN - delta)) {
                continue;
            }
            check_price(instrument, price + delta);
        }
    }
    for (const int64_t price : {spec.max_price, spec.max_price - 1, spec.min_price, spec.min_price + 1}) {
        check_price(instrument, price);
    }
    if (spec.max_price < INT64_MAX) check_price(instrument, spec.max_price + 1);
    if (spec.min_price > INT64_MIN) check_price(instrument, spec.min_price - 1);
}

} // namespace

UDR_TEST(small_ticks_match_division_at_every_level) {
    for (const int64_t tick : {1, 2, 3, 5, 7, 10, 64, 1000, 10'000'000}) {
        check_band(tick, 0, 4096, 1);
        check_band(tick, -2048, 4096, 1);
        check_band(tick, 900'000, 200'000, 1);
    }
}

UDR_TEST(a_full_band_of_2_to_the_20_levels_matches_division) {
    check_band(10'000'000, 9000, uint32_t{1} << 20, 1);
    check_band(999'999'937, -(int64_t{1} << 19), uint32_t{1} << 20, 7); // a prime tick, across zero
}

UDR_TEST(large_ticks_match_division) {
    // The largest tick whose 2^20-level band still fits int64, and odd large ticks.
    const int64_t widest = INT64_MAX / (int64_t{1} << 20);
    for (const int64_t tick : {widest, widest - 1, (int64_t{1} << 40) + 3, int64_t{1} << 42}) {
        check_band(tick, 0, uint32_t{1} << 20, 4099);
        check_band(tick, -(int64_t{1} << 19), uint32_t{1} << 20, 4099);
    }
}
