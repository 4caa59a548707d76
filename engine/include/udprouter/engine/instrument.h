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
        // A double product rounds to the exact quotient here (offset / tick < 2^20, so the error
        // is far below one half) and the integer multiply below confirms it: no divide per order.
        const uint64_t q = static_cast<uint64_t>(static_cast<double>(offset) * inverse_tick_ + 0.5);
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
    double inverse_tick_;
    OrderBook book_;
};

} // namespace udprouter::engine

#endif
