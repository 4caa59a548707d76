#include "udprouter/engine/account_table.h"

#include <cstddef>

namespace udprouter::engine {

uint32_t AccountTable::ensure(uint32_t account) {
    const uint32_t found = find(account);
    if (found != kNone) {
        return found;
    }
    if (account >= kMaxAccount) {
        return kNone;
    }
    if (account >= slot_of_.size()) {
        slot_of_.resize(size_t{account} + 1, kNone);
    }
    const uint32_t slot = size();
    AccountState state;
    state.account = account;
    state.smp = default_smp_ ? SmpMode::CancelResting : SmpMode::None;
    states_.push_back(state);
    positions_.resize(positions_.size() + instruments_, 0);
    slot_of_[account] = slot;
    return slot;
}

} // namespace udprouter::engine
