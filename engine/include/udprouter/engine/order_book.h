// order_book.h - both sides of one instrument's limit order book.
//
// Price levels sit in an array per side indexed by tick index ((price - min_price) / tick), so the
// band bounds the array and finding a level is an index, not a tree walk. A bitmap of non-empty
// levels per side finds the next best level with a count-zeros instruction per 64 levels when
// the best level empties. Bids are best at the highest index, asks at the lowest.
#ifndef UDPROUTER_ENGINE_ORDER_BOOK_H
#define UDPROUTER_ENGINE_ORDER_BOOK_H

#include "udprouter/engine/order_pool.h"
#include "udprouter/engine/price_level.h"

#include <cstdint>
#include <vector>

namespace udprouter::engine {

inline constexpr uint32_t kNoLevel = 0xFFFFFFFFu;

class OrderBook {
public:
    explicit OrderBook(uint32_t level_count);

    uint32_t level_count() const { return level_count_; }

    // Tick index of the best level of a side, or kNoLevel when the side is empty.
    uint32_t best(SideIndex side) const { return best_[index(side)]; }

    PriceLevel& level(SideIndex side, uint32_t level) { return levels_[index(side)][level]; }
    const PriceLevel& level(SideIndex side, uint32_t level) const { return levels_[index(side)][level]; }

    // Rests pool[order] at the back of its level (order.side and order.level set).
    void add(OrderPool& pool, uint32_t order);

    // Takes pool[order] out of the book.
    void remove(OrderPool& pool, uint32_t order) { remove(pool, order, false); }
    // The same for the oldest order of its level (what matching removes).
    void remove_front(OrderPool& pool, uint32_t order) { remove(pool, order, true); }

    // Next non-empty level worse than `from` (lower for bids, higher for asks), or kNoLevel.
    uint32_t next_worse(SideIndex side, uint32_t from) const;

    // Empties both sides (orders are returned to the pool by the caller).
    void clear();

private:
    static unsigned index(SideIndex side) { return static_cast<unsigned>(side); }
    void mark(SideIndex side, uint32_t level) {
        bits_[index(side)][level >> 6] |= uint64_t{1} << (level & 63);
    }
    void unmark(SideIndex side, uint32_t level) {
        bits_[index(side)][level >> 6] &= ~(uint64_t{1} << (level & 63));
    }
    void remove(OrderPool& pool, uint32_t order, bool front);
    uint32_t highest_below(SideIndex side, uint32_t from) const;
    uint32_t lowest_above(SideIndex side, uint32_t from) const;

    std::vector<PriceLevel> levels_[2];
    std::vector<uint64_t> bits_[2];
    uint32_t best_[2] = {kNoLevel, kNoLevel};
    uint32_t level_count_;
};

} // namespace udprouter::engine

#endif
