#include "udprouter/engine/order_book.h"

namespace udprouter::engine {

OrderBook::OrderBook(uint32_t level_count) : level_count_(level_count) {
    for (unsigned s = 0; s < 2; ++s) {
        levels_[s].assign(level_count, PriceLevel{});
        bits_[s].assign((level_count + 63) / 64, 0);
    }
}

void OrderBook::add(OrderPool& pool, uint32_t order) {
    const Order& o = pool[order];
    const SideIndex side = side_index(o.side);
    PriceLevel& lvl = levels_[index(side)][o.level];
    if (lvl.empty()) {
        mark(side, o.level);
    }
    lvl.append(pool, order);
    uint32_t& best = best_[index(side)];
    if (best == kNoLevel || (side == SideIndex::Buy ? o.level > best : o.level < best)) {
        best = o.level;
    }
}

void OrderBook::remove(OrderPool& pool, uint32_t order, bool front) {
    const Order& o = pool[order];
    const SideIndex side = side_index(o.side);
    PriceLevel& lvl = levels_[index(side)][o.level];
    if (front) {
        lvl.unlink_front(pool);
    } else {
        lvl.unlink(pool, order);
    }
    if (!lvl.empty()) {
        return;
    }
    unmark(side, o.level);
    if (best_[index(side)] == o.level) {
        best_[index(side)] = next_worse(side, o.level);
    }
}

uint32_t OrderBook::next_worse(SideIndex side, uint32_t from) const {
    return side == SideIndex::Buy ? highest_below(side, from) : lowest_above(side, from);
}

uint32_t OrderBook::highest_below(SideIndex side, uint32_t from) const {
    if (from == 0) {
        return kNoLevel;
    }
    const uint64_t* words = bits_[index(side)].data();
    const uint32_t start = from - 1;
    size_t w = start >> 6;
    uint64_t bits = words[w] & (~uint64_t{0} >> (63 - (start & 63)));
    for (;;) {
        if (bits != 0) {
            return static_cast<uint32_t>(w * 64 + 63 - static_cast<unsigned>(__builtin_clzll(bits)));
        }
        if (w == 0) {
            return kNoLevel;
        }
        bits = words[--w];
    }
}

uint32_t OrderBook::lowest_above(SideIndex side, uint32_t from) const {
    const uint32_t start = from + 1;
    if (start >= level_count_) {
        return kNoLevel;
    }
    const std::vector<uint64_t>& words = bits_[index(side)];
    size_t w = start >> 6;
    uint64_t bits = words[w] & (~uint64_t{0} << (start & 63));
    for (;;) {
        if (bits != 0) {
            return static_cast<uint32_t>(w * 64 + static_cast<unsigned>(__builtin_ctzll(bits)));
        }
        if (++w == words.size()) {
            return kNoLevel;
        }
        bits = words[w];
    }
}

void OrderBook::clear() {
    for (unsigned s = 0; s < 2; ++s) {
        levels_[s].assign(level_count_, PriceLevel{});
        bits_[s].assign(bits_[s].size(), 0);
        best_[s] = kNoLevel;
    }
}

} // namespace udprouter::engine
