// instrument.h - one tradable instrument: its limits (tick, band, max qty) and its order book.
#ifndef UDPROUTER_ENGINE_INSTRUMENT_H
#define UDPROUTER_ENGINE_INSTRUMENT_H

#include "udprouter/engine/errors.h"
#include "udprouter/engine/order_book.h"

#include <cstdint>

namespace udprouter::engine {

// Prices are -9 mantissas. min_price and max_price are inclusive and must be multiples of tick.
struct InstrumentSpec {
    int32_t security_id;
    int64_t tick;
    int64_t min_price;
    int64_t max_price;
    uint32_t max_qty;
};

// Levels per side are bounded so that a misconfigured band cannot allocate gigabytes.
inline constexpr uint64_t kMaxLevelsPerSide = uint64_t{1} << 20;

class Instrument {
public:
    // Throws EngineConfigError when the spec cannot be served (tick <= 0, band off the tick
    // grid or inverted, more than kMaxLevelsPerSide levels, max_qty 0).
    explicit Instrument(const InstrumentSpec& spec);

    const InstrumentSpec& spec() const { return spec_; }
    OrderBook& book() { return book_; }
    const OrderBook& book() const { return book_; }

    // Band first, then tick: a price that is both off band and off tick is OutOfBand.
    PriceCheck level_of(int64_t price, uint32_t& level) const {
        if (price < spec_.min_price || price > spec_.max_price) {
            return PriceCheck::OutOfBand;
        }
        const uint64_t offset = static_cast<uint64_t>(price - spec_.min_price);
        // No divide per order: with M = ceil(2^64 / tick) = tick_reciprocal_, offset * M / 2^64 is
        // offset / tick plus less than one tick's worth (offset < 2^64), so its integer part is the
        // exact quotient when offset is a multiple of tick, and otherwise q * tick != offset (q is
        // the quotient or one above it: no wrap). Tick 1 has M = 2^64, kept as 0.
        __extension__ typedef unsigned __int128 Wide;
        const uint64_t q = tick_reciprocal_ == 0
                               ? offset
                               : static_cast<uint64_t>((static_cast<Wide>(offset) * tick_reciprocal_) >> 64);
        if (q * static_cast<uint64_t>(spec_.tick) != offset) {
            return PriceCheck::OffTick;
        }
        level = static_cast<uint32_t>(q);
        return PriceCheck::Ok;
    }

    int64_t price_of(uint32_t level) const {
        return spec_.min_price + static_cast<int64_t>(level) * spec_.tick;
    }

private:
    InstrumentSpec spec_;
    uint64_t tick_reciprocal_; // ceil(2^64 / tick), 0 for tick 1 (see level_of)
    OrderBook book_;
};

} // namespace udprouter::engine

#endif
