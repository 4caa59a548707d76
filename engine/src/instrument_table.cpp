#include "udprouter/engine/instrument_table.h"

#include <algorithm>

namespace udprouter::engine {

InstrumentTable::InstrumentTable(const std::vector<int32_t>& security_ids) {
    if (!security_ids.empty()) {
        const auto [lo, hi] = std::minmax_element(security_ids.begin(), security_ids.end());
        const uint64_t span = static_cast<uint64_t>(int64_t{*hi} - int64_t{*lo}) + 1;
        // Dense enough: at most 4 entries per instrument (or 64 in all), like the hash table's load.
        if (span <= std::max<uint64_t>(64, uint64_t{4} * security_ids.size())) {
            min_id_ = *lo;
            direct_.assign(span, kNoInstrument);
            for (uint32_t i = 0; i < security_ids.size(); ++i) {
                direct_[static_cast<uint32_t>(security_ids[i]) - static_cast<uint32_t>(min_id_)] = i;
            }
            return;
        }
    }
    // At most a quarter full, so a miss usually ends at the first or second slot.
    unsigned bits = 2;
    while ((uint64_t{1} << bits) < uint64_t{4} * security_ids.size()) {
        ++bits;
    }
    slots_.assign(size_t{1} << bits, Slot{0, kNoInstrument});
    mask_ = (uint32_t{1} << bits) - 1;
    shift_ = 32 - bits;
    for (uint32_t i = 0; i < security_ids.size(); ++i) {
        uint32_t slot = hash(security_ids[i]);
        while (slots_[slot].index != kNoInstrument) {
            slot = (slot + 1) & mask_;
        }
        slots_[slot] = Slot{security_ids[i], i};
    }
}

} // namespace udprouter::engine
