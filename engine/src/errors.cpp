#include "udprouter/engine/errors.h"

namespace udprouter::engine {

const char* to_string(OrdRejReason reason) {
    switch (reason) {
    case OrdRejReason::UnknownSymbol: return "UnknownSymbol";
    case OrdRejReason::OrderExceedsLimit: return "OrderExceedsLimit";
    case OrdRejReason::DuplicateOrder: return "DuplicateOrder";
    case OrdRejReason::UnsupportedOrderCharacteristic: return "UnsupportedOrderCharacteristic";
    case OrdRejReason::IncorrectQuantity: return "IncorrectQuantity";
    case OrdRejReason::PriceExceedsCurrentPriceBand: return "PriceExceedsCurrentPriceBand";
    case OrdRejReason::InvalidPriceIncrement: return "InvalidPriceIncrement";
    case OrdRejReason::InsufficientCreditLimit: return "InsufficientCreditLimit";
    case OrdRejReason::ExceededMaxNotionalOrderAmt: return "ExceededMaxNotionalOrderAmt";
    case OrdRejReason::Other: return "Other";
    case OrdRejReason::OrderBookFull: return "OrderBookFull";
    case OrdRejReason::PositionLimitExceeded: return "PositionLimitExceeded";
    case OrdRejReason::OrderRateExceeded: return "OrderRateExceeded";
    case OrdRejReason::AccountKillSwitch: return "AccountKillSwitch";
    }
    return "?";
}

const char* to_string(CxlRejReason reason) {
    switch (reason) {
    case CxlRejReason::TooLateToCancel: return "TooLateToCancel";
    case CxlRejReason::UnknownOrder: return "UnknownOrder";
    case CxlRejReason::DuplicateClOrdID: return "DuplicateClOrdID";
    case CxlRejReason::IncorrectQuantity: return "IncorrectQuantity";
    case CxlRejReason::PriceExceedsCurrentPriceBand: return "PriceExceedsCurrentPriceBand";
    case CxlRejReason::InvalidPriceIncrement: return "InvalidPriceIncrement";
    case CxlRejReason::InsufficientCreditLimit: return "InsufficientCreditLimit";
    case CxlRejReason::ExceededMaxNotionalOrderAmt: return "ExceededMaxNotionalOrderAmt";
    case CxlRejReason::PositionLimitExceeded: return "PositionLimitExceeded";
    case CxlRejReason::Other: return "Other";
    }
    return "?";
}

const char* to_string(CancelReason reason) {
    switch (reason) {
    case CancelReason::ClientRequest: return "ClientRequest";
    case CancelReason::ImmediateOrCancel: return "ImmediateOrCancel";
    case CancelReason::FillOrKill: return "FillOrKill";
    case CancelReason::SelfMatchPrevention: return "SelfMatchPrevention";
    case CancelReason::MassCancel: return "MassCancel";
    case CancelReason::CancelOnDisconnect: return "CancelOnDisconnect";
    case CancelReason::KillSwitch: return "KillSwitch";
    case CancelReason::SelfMatchPreventionAggressor: return "SelfMatchPreventionAggressor";
    case CancelReason::SessionReset: return "SessionReset";
    }
    return "?";
}

} // namespace udprouter::engine
