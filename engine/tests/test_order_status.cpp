// OrderStatusRequest: the live order's OrdStatus, quantities and price; for an order that left the
// book, its final state from the terminal table (Filled or Canceled, LeavesQty 0, its CumQty and
// price); REFUSED when the session has neither under that ClOrdID and SecurityID.
#include "engine_test.h"

UDR_TEST(a_live_order_reports_new_then_partially_filled) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=1 side=sell px=100 qty=10
> accepted cl=1 oid=1 px=100 qty=10 leaves=10 last
status sess=1 cl=1
> status side=sell cl=1 oid=1 px=100 qty=10 leaves=10 reason=0 last
new sess=2 cl=1 side=buy px=100 qty=4
> accepted cl=1 oid=3 px=100 qty=4 leaves=4
> trade cl=1 oid=3 px=100 qty=4 leaves=0 cum=4 aggr
> trade sess=1 side=sell cl=1 oid=1 px=100 qty=4 leaves=6 cum=4 last
status sess=1 cl=1 side=sell
> status side=sell cl=1 oid=1 px=100 qty=10 leaves=6 cum=4 reason=1 last
)");
}

UDR_TEST(an_order_that_was_never_the_sessions_is_unknown) {
    UDR_CHECK_SCRIPT(R"(
instrument sec=1 tick=1 min=1 max=1000 max_qty=1000
instrument sec=2 tick=1 min=1 max=1000 max_qty=1000
new sess=1 cl=1 side=sell px=100 qty=10
> accepted cl=1 oid=1 px=100 qty=10 leaves=10 last
status sess=2 cl=1
> status cl=1 refused last
status sess=1 cl=1 sec=2
> status cl=1 sec=2 refused last
status sess=1 cl=9
> status cl=9 refused last
status sess=99 cl=1
> status cl=1 refused last
new sess=2 cl=2 side=buy px=100 qty=10
> accepted cl=2 oid=6 px=100 qty=10 leaves=10
> trade cl=2 oid=6 px=100 qty=10 leaves=0 cum=10 aggr
> trade sess=1 side=sell cl=1 oid=1 px=100 qty=10 leaves=0 cum=10 last
status sess=1 cl=1 sec=2
> status cl=1 sec=2 refused last
status sess=2 cl=1
> status cl=1 refused last
new sess=1 cl=20 side=sell px=1001 qty=1
> rejected cl=20 px=1001 qty=1 reason=PriceExceedsCurrentPriceBand last
status sess=1 cl=20
> status cl=20 refused last
)");
}

// Reason 2 = OrdStatus Filled, 4 = Canceled; qty 0 (OrderQty is not kept), leaves 0.
UDR_TEST(filled_orders_report_filled_resting_and_aggressing) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=1 side=sell px=100 qty=10
> accepted cl=1 oid=1 px=100 qty=10 leaves=10 last
new sess=2 cl=1 side=buy px=100 qty=10
> accepted cl=1 oid=2 px=100 qty=10 leaves=10
> trade cl=1 oid=2 px=100 qty=10 leaves=0 cum=10 aggr
> trade sess=1 side=sell cl=1 oid=1 px=100 qty=10 leaves=0 cum=10 last
status sess=1 cl=1 side=sell
> status side=sell cl=1 oid=1 px=100 leaves=0 cum=10 reason=2 last
status sess=2 cl=1 side=buy
> status side=buy cl=1 oid=2 px=100 leaves=0 cum=10 reason=2 last
new sess=1 cl=2 side=sell px=100 qty=5
> accepted cl=2 oid=5 px=100 qty=5 leaves=5 last
new sess=2 cl=2 side=buy px=0 qty=5 type=market tif=ioc
> accepted cl=2 oid=6 qty=5 leaves=5
> trade cl=2 oid=6 px=100 qty=5 leaves=0 cum=5 aggr
> trade sess=1 side=sell cl=2 oid=5 px=100 qty=5 leaves=0 cum=5 last
status sess=2 cl=2 side=buy
> status side=buy cl=2 oid=6 leaves=0 cum=5 reason=2 last
restore
status sess=1 cl=1 side=sell
> status side=sell cl=1 oid=1 px=100 leaves=0 cum=10 reason=2 last
)");
}

UDR_TEST(canceled_orders_report_canceled_whoever_canceled_them) {
    UDR_CHECK_SCRIPT(R"(
engine smp=1
new sess=1 cl=1 side=sell px=100 qty=10
> accepted cl=1 oid=1 px=100 qty=10 leaves=10 last
new sess=2 cl=1 side=buy px=100 qty=4
> accepted cl=1 oid=2 px=100 qty=4 leaves=4
> trade cl=1 oid=2 px=100 qty=4 leaves=0 cum=4 aggr
> trade sess=1 side=sell cl=1 oid=1 px=100 qty=4 leaves=6 cum=4 last
cancel sess=1 cl=2 orig=1 side=sell
> canceled cl=2 orig=1 oid=1 cum=4 reason=ClientRequest last
status sess=1 cl=1 side=sell
> status side=sell cl=1 oid=1 px=100 leaves=0 cum=4 reason=4 last
status sess=1 cl=2 side=sell
> status side=sell cl=2 refused last
new sess=1 cl=3 side=sell px=110 qty=3
> accepted cl=3 oid=6 px=110 qty=3 leaves=3 last
mass_cancel sess=1 cl=4 reason=MassCancel
> mass_report cl=4 qty=1
> canceled cl=3 orig=3 oid=6 sec=1 side=sell reason=MassCancel last
status sess=1 cl=3 side=sell
> status side=sell cl=3 oid=6 px=110 leaves=0 cum=0 reason=4 last
new sess=3 cl=1 side=buy px=90 qty=2
> accepted cl=1 oid=9 px=90 qty=2 leaves=2 last
new sess=3 cl=2 side=sell px=90 qty=3
> accepted cl=2 oid=10 px=90 qty=3 leaves=3
> canceled cl=1 orig=1 oid=9 side=buy reason=SelfMatchPrevention last
status sess=3 cl=1 side=buy
> status side=buy cl=1 oid=9 px=90 leaves=0 cum=0 reason=4 last
new sess=4 cl=1 side=buy px=50 qty=2 tif=ioc
> accepted cl=1 oid=12 px=50 qty=2 leaves=2
> canceled cl=1 orig=1 oid=12 reason=ImmediateOrCancel last
status sess=4 cl=1 side=buy
> status side=buy cl=1 oid=12 px=50 leaves=0 cum=0 reason=4 last
restore
status sess=3 cl=1 side=buy
> status side=buy cl=1 oid=9 px=90 leaves=0 cum=0 reason=4 last
)");
}

// The table keeps the newest terminal_orders; older ones answer unknown. A session reset drops the
// session's records (the id's next occupant starts its ClOrdIDs again); a dropped record keeps its
// place in the ring until evicted in turn, also across a snapshot.
UDR_TEST(the_oldest_terminal_orders_are_evicted_and_a_session_reset_drops_the_sessions) {
    UDR_CHECK_SCRIPT(R"(
engine terminal_orders=2
new sess=1 cl=1 side=buy px=50 qty=1 tif=ioc
> accepted cl=1 oid=1 px=50 qty=1 leaves=1
> canceled cl=1 orig=1 oid=1 reason=ImmediateOrCancel last
new sess=2 cl=1 side=buy px=50 qty=1 tif=ioc
> accepted cl=1 oid=2 px=50 qty=1 leaves=1
> canceled cl=1 orig=1 oid=2 reason=ImmediateOrCancel last
status sess=1 cl=1 side=buy
> status side=buy cl=1 oid=1 px=50 reason=4 last
raw kind=7 sess=2
> session_reset cl=0 sec=0 side=0 last
status sess=2 cl=1
> status cl=1 refused last
restore
new sess=1 cl=2 side=buy px=50 qty=1 tif=ioc
> accepted cl=2 oid=6 px=50 qty=1 leaves=1
> canceled cl=2 orig=2 oid=6 reason=ImmediateOrCancel last
status sess=1 cl=1 side=buy
> status cl=1 refused last
new sess=1 cl=3 side=buy px=50 qty=1 tif=ioc
> accepted cl=3 oid=8 px=50 qty=1 leaves=1
> canceled cl=3 orig=3 oid=8 reason=ImmediateOrCancel last
status sess=1 cl=2 side=buy
> status side=buy cl=2 oid=6 px=50 reason=4 last
status sess=1 cl=3 side=buy
> status side=buy cl=3 oid=8 px=50 reason=4 last
new sess=2 cl=1 side=buy px=50 qty=1
> accepted cl=1 oid=11 px=50 qty=1 leaves=1 last
status sess=2 cl=1 side=buy
> status side=buy cl=1 oid=11 px=50 qty=1 leaves=1 reason=0 last
)");
}

// A ClOrdID is never reused within a session, filled or not (the session's ClOrdIDs must rise):
// a new order, cancel or replace under the ClOrdID of a terminal order is refused as a duplicate,
// and the terminal record still answers.
UDR_TEST(the_cl_ord_id_of_a_terminal_order_is_not_reusable) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=1 side=sell px=100 qty=1
> accepted cl=1 oid=1 px=100 qty=1 leaves=1 last
new sess=2 cl=1 side=buy px=100 qty=1
> accepted cl=1 oid=2 px=100 qty=1 leaves=1
> trade cl=1 oid=2 px=100 qty=1 leaves=0 cum=1 aggr
> trade sess=1 side=sell cl=1 oid=1 px=100 qty=1 leaves=0 cum=1 last
new sess=1 cl=1 side=sell px=100 qty=5
> rejected cl=1 px=100 qty=5 reason=DuplicateOrder last
cancel sess=1 cl=2 orig=1 side=sell
> cancel_rejected cl=2 orig=1 reason=TooLateToCancel last
status sess=1 cl=1 side=sell
> status side=sell cl=1 oid=1 px=100 leaves=0 cum=1 reason=2 last
)");
}

// A replaced order answers under its new ClOrdID; the one it replaced is no order any more.
UDR_TEST(a_replaced_order_answers_under_its_new_cl_ord_id) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=1 side=sell px=100 qty=5
> accepted cl=1 oid=1 px=100 qty=5 leaves=5 last
replace sess=1 cl=2 orig=1 side=sell px=101 qty=5
> replaced cl=2 orig=1 oid=1 px=101 qty=5 leaves=5 last
cancel sess=1 cl=3 orig=2 side=sell
> canceled cl=3 orig=2 oid=1 reason=ClientRequest last
status sess=1 cl=2 side=sell
> status side=sell cl=2 oid=1 px=101 leaves=0 cum=0 reason=4 last
status sess=1 cl=1 side=sell
> status side=sell cl=1 refused last
)");
}

// The order index holds the live orders and the kept terminal ones, below 2^31 together.
UDR_TEST(max_orders_and_terminal_orders_together_stay_below_2_31) {
    using namespace udprouter::engine;
    const InstrumentSpec spec{1, 1, 1, 1000, 1000};
    bool refused = false;
    try {
        Engine engine(EngineConfig{{spec}, 0x40000000u, 4, false, 0x40000000u});
    } catch (const EngineConfigError&) {
        refused = true;
    }
    UDR_CHECK(refused);
}
