#include "udprouter/engine/instrument_table.h"

namespace udprouter::engine {

InstrumentTable::InstrumentTable(const std::vector<int32_t>& security_ids) {
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
