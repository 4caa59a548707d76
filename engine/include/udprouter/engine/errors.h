// errors.h - result codes of the matching core.
//
// Hot-path outcomes are returned values: the reject reasons carry the numeric values of the wire
// schema (protocol/orders.xml) so an event's reason byte is the wire value, and they are never
// renumbered. Exceptions are used only at construction (a bad EngineConfig), off the hot path.
#ifndef UDPROUTER_ENGINE_ERRORS_H
#define UDPROUTER_ENGINE_ERRORS_H

#include <cstdint>
#include <stdexcept>
#include <string>

namespace udprouter::engine {

// OrdRejReason (FIX tag 103; 100+ are udprouter's own), carried by UDR_EVT_REJECTED.
enum class OrdRejReason : uint8_t {
    UnknownSymbol = 1,
    OrderExceedsLimit = 3,
    DuplicateOrder = 6,
    UnsupportedOrderCharacteristic = 11,
    IncorrectQuantity = 13,
    PriceExceedsCurrentPriceBand = 16,
    InvalidPriceIncrement = 18,
    Other = 99,
    OrderBookFull = 100,
};

// CxlRejReason (FIX tag 102), carried by UDR_EVT_CANCEL_REJECTED.
enum class CxlRejReason : uint8_t {
    TooLateToCancel = 0,
    UnknownOrder = 1,
    DuplicateClOrdID = 6,
    IncorrectQuantity = 13,
    PriceExceedsCurrentPriceBand = 16,
    InvalidPriceIncrement = 18,
    Other = 99,
};

// CancelReason (udprouter tag 5001), carried by UDR_EVT_CANCELED.
enum class CancelReason : uint8_t {
    ClientRequest = 0,
    ImmediateOrCancel = 1,
    FillOrKill = 2,
    SelfMatchPrevention = 3,
    SessionReset = 4, // its session was released (UDR_CMD_RESET_SESSION); never reaches a client
};

// Outcome of checking a price against an instrument's band and tick.
enum class PriceCheck : uint8_t {
    Ok = 0,
    OutOfBand = 1,
    OffTick = 2,
};

// Outcome of checking a ClOrdID against the session's high-water mark.
enum class ClOrdIdCheck : uint8_t {
    Fresh = 0,          // above the mark; the mark now equals it
    Duplicate = 1,      // not above the mark
    UnknownSession = 2, // session_id outside the session table
};

const char* to_string(OrdRejReason reason);
const char* to_string(CxlRejReason reason);
const char* to_string(CancelReason reason);

// Thrown by the Engine constructor when the configuration cannot be served (off the hot path).
class EngineConfigError : public std::runtime_error {
public:
    explicit EngineConfigError(const std::string& what) : std::runtime_error(what) {}
};

} // namespace udprouter::engine

#endif
