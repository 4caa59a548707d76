// order.h - one live order, exactly one cache line.
//
// Orders live in the OrderPool; a resting order's pool index sits in its price level's queue
// (QueueSlab) at the position OrderPool::pos() keeps, so a cancel finds its entry without walking
// the level.
#ifndef UDPROUTER_ENGINE_ORDER_H
#define UDPROUTER_ENGINE_ORDER_H

#include <cstdint>

#include "udprouter/generated/sbe_messages.h"

namespace udprouter::engine {

inline constexpr uint32_t kNullIndex = 0xFFFFFFFFu;

// Internal side index: the wire's Side value minus one (Buy 1 -> 0, Sell 2 -> 1).
enum class SideIndex : uint8_t { Buy = 0, Sell = 1 };

inline constexpr uint8_t kWireSideBuy = UDR_SBE_SIDE_BUY;
inline constexpr uint8_t kWireSideSell = UDR_SBE_SIDE_SELL;

struct alignas(64) Order {
    uint64_t cl_ord_id;    // current ClOrdID (a replace changes it)
    uint64_t order_id;     // command_seq of the NewOrderSingle that created the order
    int64_t price;         // mantissa, exponent -9
    uint32_t next;         // free-list link while the order is not in use
    uint32_t session_id;
    uint32_t account;
    uint32_t order_qty;    // OrderQty as last accepted or replaced
    uint32_t leaves_qty;
    uint32_t cum_qty;
    int32_t security_id;
    uint32_t level;        // tick index of price within the instrument's band
    uint16_t book;         // instrument index inside the engine
    uint8_t side;          // wire Side value (1 buy, 2 sell)
    uint8_t flags;         // kOrderSmpMask, kOrderTracked (account_table.h)
};

static_assert(sizeof(Order) == 64, "an Order is one cache line");

// The final state of an order that left the book, kept for order status (terminal_orders.h).
struct TerminalOrder {
    uint64_t cl_ord_id;
    uint64_t order_id;
    int64_t price;
    uint32_t session_id;
    int32_t security_id;
    uint32_t cum_qty;
    uint8_t side;
    uint8_t status; // OrdStatus Filled or Canceled; TerminalOrders::kDropped after a session reset
    uint16_t reserved;
};
static_assert(sizeof(TerminalOrder) == 40, "a terminal order is 40 bytes");

inline SideIndex side_index(uint8_t wire_side) {
    return wire_side == kWireSideBuy ? SideIndex::Buy : SideIndex::Sell;
}

inline SideIndex opposite(SideIndex side) {
    return side == SideIndex::Buy ? SideIndex::Sell : SideIndex::Buy;
}

} // namespace udprouter::engine

#endif
