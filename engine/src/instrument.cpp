#include "udprouter/engine/instrument.h"

#include <string>

namespace udprouter::engine {

namespace {

uint32_t checked_level_count(const InstrumentSpec& spec) {
    const std::string name = "instrument " + std::to_string(spec.security_id) + ": ";
    if (spec.tick <= 0) {
        throw EngineConfigError(name + "tick must be positive");
    }
    if (spec.min_price > spec.max_price) {
        throw EngineConfigError(name + "min_price above max_price");
    }
    if (spec.min_price % spec.tick != 0 || spec.max_price % spec.tick != 0) {
        throw EngineConfigError(name + "min_price and max_price must be multiples of tick");
    }
    if (spec.max_qty == 0) {
        throw EngineConfigError(name + "max_qty must be positive");
    }
    // max_price >= min_price, so the unsigned difference is exact even across zero.
    const uint64_t span = static_cast<uint64_t>(spec.max_price) - static_cast<uint64_t>(spec.min_price);
    const uint64_t levels = span / static_cast<uint64_t>(spec.tick) + 1;
    if (levels > kMaxLevelsPerSide) {
        throw EngineConfigError(name + "band holds more than " + std::to_string(kMaxLevelsPerSide) +
                                " ticks");
    }
    return static_cast<uint32_t>(levels);
}

} // namespace

Instrument::Instrument(const InstrumentSpec& spec)
    : spec_(spec),
      // ~0 / tick + 1 is ceil(2^64 / tick) for every tick > 1 and wraps to 0 for tick 1. A tick
      // <= 0 is refused by checked_level_count() below (book_ is built after this member).
      tick_reciprocal_(spec.tick > 0 ? ~uint64_t{0} / static_cast<uint64_t>(spec.tick) + 1 : 0),
      book_(checked_level_count(spec)) {}

} // namespace udprouter::engine
