// errors.h - result codes of the matching core.
//
// Hot-path outcomes are returned values: the reject reasons are the wire schema's values
// (protocol/orders.xml), taken from the generated header, so an event's reason byte is the wire
// value and the engine cannot drift from the schema. Exceptions are used only at construction
// (a bad EngineConfig), off the hot path.
#ifndef UDPROUTER_ENGINE_ERRORS_H
#define UDPROUTER_ENGINE_ERRORS_H

#include <cstdint>
#include <stdexcept>
#include <string>

#include "udprouter/generated/sbe_messages.h"

namespace udprouter::engine {

// OrdRejReason (FIX tag 103; 100+ are udprouter's own), carried by UDR_EVT_REJECTED.
enum class OrdRejReason : uint8_t {
    UnknownSymbol = UDR_SBE_ORD_REJ_REASON_UNKNOWN_SYMBOL,
    OrderExceedsLimit = UDR_SBE_ORD_REJ_REASON_ORDER_EXCEEDS_LIMIT,
    DuplicateOrder = UDR_SBE_ORD_REJ_REASON_DUPLICATE_ORDER,
    UnsupportedOrderCharacteristic = UDR_SBE_ORD_REJ_REASON_UNSUPPORTED_ORDER_CHARACTERISTIC,
    IncorrectQuantity = UDR_SBE_ORD_REJ_REASON_INCORRECT_QUANTITY,
    PriceExceedsCurrentPriceBand = UDR_SBE_ORD_REJ_REASON_PRICE_EXCEEDS_CURRENT_PRICE_BAND,
    InvalidPriceIncrement = UDR_SBE_ORD_REJ_REASON_INVALID_PRICE_INCREMENT,
    InsufficientCreditLimit = UDR_SBE_ORD_REJ_REASON_INSUFFICIENT_CREDIT_LIMIT,
    ExceededMaxNotionalOrderAmt = UDR_SBE_ORD_REJ_REASON_EXCEEDED_MAX_NOTIONAL_ORDER_AMT,
    Other = UDR_SBE_ORD_REJ_REASON_OTHER,
    OrderBookFull = UDR_SBE_ORD_REJ_REASON_ORDER_BOOK_FULL,
    PositionLimitExceeded = UDR_SBE_ORD_REJ_REASON_POSITION_LIMIT_EXCEEDED,
    OrderRateExceeded = UDR_SBE_ORD_REJ_REASON_ORDER_RATE_EXCEEDED,
    AccountKillSwitch = UDR_SBE_ORD_REJ_REASON_ACCOUNT_KILL_SWITCH,
};

// CxlRejReason (FIX tag 102), carried by UDR_EVT_CANCEL_REJECTED.
enum class CxlRejReason : uint8_t {
    TooLateToCancel = UDR_SBE_CXL_REJ_REASON_TOO_LATE_TO_CANCEL,
    UnknownOrder = UDR_SBE_CXL_REJ_REASON_UNKNOWN_ORDER,
    DuplicateClOrdID = UDR_SBE_CXL_REJ_REASON_DUPLICATE_CL_ORD_ID,
    IncorrectQuantity = UDR_SBE_CXL_REJ_REASON_INCORRECT_QUANTITY,
    PriceExceedsCurrentPriceBand = UDR_SBE_CXL_REJ_REASON_PRICE_EXCEEDS_CURRENT_PRICE_BAND,
    InvalidPriceIncrement = UDR_SBE_CXL_REJ_REASON_INVALID_PRICE_INCREMENT,
    // a replace past one of the account's limits (OrdRejReason's values)
    InsufficientCreditLimit = UDR_SBE_CXL_REJ_REASON_INSUFFICIENT_CREDIT_LIMIT,
    ExceededMaxNotionalOrderAmt = UDR_SBE_CXL_REJ_REASON_EXCEEDED_MAX_NOTIONAL_ORDER_AMT,
    PositionLimitExceeded = UDR_SBE_CXL_REJ_REASON_POSITION_LIMIT_EXCEEDED,
    Other = UDR_SBE_CXL_REJ_REASON_OTHER,
};

// CancelReason (udprouter tag 5001), carried by UDR_EVT_CANCELED.
enum class CancelReason : uint8_t {
    ClientRequest = UDR_SBE_CANCEL_REASON_CLIENT_REQUEST,
    ImmediateOrCancel = UDR_SBE_CANCEL_REASON_IMMEDIATE_OR_CANCEL,
    FillOrKill = UDR_SBE_CANCEL_REASON_FILL_OR_KILL,
    // the resting order (mode CancelResting or CancelBoth)
    SelfMatchPrevention = UDR_SBE_CANCEL_REASON_SELF_MATCH_PREVENTION,
    // OrderMassActionRequest or an admin mass cancel
    MassCancel = UDR_SBE_CANCEL_REASON_MASS_CANCEL,
    CancelOnDisconnect = UDR_SBE_CANCEL_REASON_CANCEL_ON_DISCONNECT,
    KillSwitch = UDR_SBE_CANCEL_REASON_KILL_SWITCH,
    // the incoming order (mode CancelAggressing or CancelBoth)
    SelfMatchPreventionAggressor = UDR_SBE_CANCEL_REASON_SELF_MATCH_PREVENTION_AGGRESSOR,
    // its session was released (UDR_CMD_RESET_SESSION): engine-only, never reaches a client, so
    // not in the wire schema; above every wire value
    SessionReset = 8,
};

// MassActionRejectReason (FIX tag 1376), carried by a REFUSED UDR_EVT_MASS_ACTION_REPORT.
enum class MassActionRejectReason : uint8_t {
    MassActionNotSupported = UDR_SBE_MASS_ACTION_REJECT_REASON_MASS_ACTION_NOT_SUPPORTED,
    InvalidOrUnknownSecurity = UDR_SBE_MASS_ACTION_REJECT_REASON_INVALID_OR_UNKNOWN_SECURITY,
    Other = UDR_SBE_MASS_ACTION_REJECT_REASON_OTHER,
};

// OrdStatus (FIX tag 39), carried by UDR_EVT_ORDER_STATUS.
enum class OrdStatus : uint8_t {
    New = UDR_SBE_ORD_STATUS_NEW,
    PartiallyFilled = UDR_SBE_ORD_STATUS_PARTIALLY_FILLED,
    Filled = UDR_SBE_ORD_STATUS_FILLED,     // an order that left the book (terminal_orders.h)
    Canceled = UDR_SBE_ORD_STATUS_CANCELED,
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
