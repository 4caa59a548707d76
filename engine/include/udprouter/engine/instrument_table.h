// instrument_table.h - SecurityID -> instrument index, built once at construction.
//
// SecurityIDs usually run densely (1, 2, 3, ...): then the index is one bounds check and one load
// from a direct table over [min id, max id]. Sparse ids fall back to open addressing.
#ifndef UDPROUTER_ENGINE_INSTRUMENT_TABLE_H
#define UDPROUTER_ENGINE_INSTRUMENT_TABLE_H

#include <cstddef>
#include <cstdint>
#include <vector>

namespace udprouter::engine {

inline constexpr uint32_t kNoInstrument = 0xFFFFFFFFu;

class InstrumentTable {
public:
    // security_ids must be distinct (the Engine checks before building the table).
    explicit InstrumentTable(const std::vector<int32_t>& security_ids);

    // Index of the instrument in construction order, or kNoInstrument.
    uint32_t find(int32_t security_id) const {
        if (!direct_.empty()) {
            const uint32_t offset = static_cast<uint32_t>(security_id) - static_cast<uint32_t>(min_id_);
            return offset < direct_.size() ? direct_[offset] : kNoInstrument;
        }
        uint32_t slot = hash(security_id);
        for (;;) {
            const Slot& s = slots_[slot];
            if (s.index == kNoInstrument || s.security_id == security_id) {
                return s.index;
            }
            slot = (slot + 1) & mask_;
        }
    }

private:
    struct Slot {
        int32_t security_id;
        uint32_t index;
    };
    uint32_t hash(int32_t security_id) const {
        return static_cast<uint32_t>((static_cast<uint32_t>(security_id) * 0x9E3779B1u) >> shift_) & mask_;
    }

    std::vector<uint32_t> direct_; // [id - min_id_] -> index or kNoInstrument; empty when ids are sparse
    int32_t min_id_ = 0;
    std::vector<Slot> slots_;
    uint32_t mask_ = 0;
    unsigned shift_ = 0;
};

} // namespace udprouter::engine

#endif
