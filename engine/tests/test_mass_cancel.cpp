// Mass cancel: OrderMassActionRequest (a session's own orders), cancel on disconnect and an admin's
// account-wide cancel share one command. The report comes first with TotalAffectedOrders, then one
// CANCELED per order in price-time order, each to its own session with the command's CancelReason.
#include "engine_test.h"

UDR_TEST(a_session_cancels_all_its_orders_and_no_one_elses) {
    UDR_CHECK_SCRIPT(R"(
instrument sec=1 tick=1 min=1 max=1000 max_qty=1000
instrument sec=2 tick=1 min=1 max=1000 max_qty=1000
new sess=1 cl=1 sec=1 side=buy px=99 qty=5
> accepted cl=1 oid=1 px=99 qty=5 leaves=5 last
new sess=1 cl=2 sec=2 side=sell px=101 qty=5
> accepted cl=2 oid=2 px=101 qty=5 leaves=5 last
new sess=2 cl=1 sec=1 side=buy px=98 qty=5
> accepted cl=1 oid=3 px=98 qty=5 leaves=5 last
mass_cancel sess=1 cl=3
> mass_report cl=3 qty=2
> canceled sec=1 side=buy cl=1 orig=1 oid=1 reason=MassCancel
> canceled sec=2 side=sell cl=2 orig=2 oid=2 reason=MassCancel last
live 1
)");
}

UDR_TEST(by_security_id_and_side_only_those_orders_go) {
    UDR_CHECK_SCRIPT(R"(
instrument sec=1 tick=1 min=1 max=1000 max_qty=1000
instrument sec=2 tick=1 min=1 max=1000 max_qty=1000
new sess=1 cl=1 sec=1 side=buy px=99 qty=5
> accepted cl=1 oid=1 px=99 qty=5 leaves=5 last
new sess=1 cl=2 sec=1 side=sell px=101 qty=5
> accepted cl=2 oid=2 px=101 qty=5 leaves=5 last
new sess=1 cl=3 sec=2 side=buy px=99 qty=5
> accepted cl=3 oid=3 px=99 qty=5 leaves=5 last
mass_cancel sess=1 cl=4 sec=1 side=sell
> mass_report cl=4 qty=1
> canceled cl=2 orig=2 oid=2 reason=MassCancel last
mass_cancel sess=1 cl=5 sec=1
> mass_report cl=5 qty=1
> canceled side=buy cl=1 orig=1 oid=1 reason=MassCancel last
live 1
)");
}

UDR_TEST(an_account_wide_cancel_reaches_every_session_of_the_account) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 acct=7 cl=1 side=buy px=99 qty=5
> accepted cl=1 oid=1 px=99 qty=5 leaves=5 last
new sess=2 acct=7 cl=1 side=buy px=98 qty=5
> accepted cl=1 oid=2 px=98 qty=5 leaves=5 last
new sess=3 acct=8 cl=1 side=buy px=97 qty=5
> accepted cl=1 oid=3 px=97 qty=5 leaves=5 last
mass_cancel sess=0 acct=7
> mass_report qty=2
> canceled sess=1 sec=1 side=buy cl=1 orig=1 oid=1 reason=MassCancel
> canceled sess=2 sec=1 side=buy cl=1 orig=1 oid=2 reason=MassCancel last
live 1
)");
}

UDR_TEST(cancel_on_disconnect_carries_its_reason_and_needs_no_cl_ord_id) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=1 side=sell px=101 qty=5
> accepted cl=1 oid=1 px=101 qty=5 leaves=5 last
mass_cancel sess=1 why=CancelOnDisconnect
> mass_report qty=1
> canceled sec=1 side=sell cl=1 orig=1 oid=1 reason=CancelOnDisconnect last
new sess=1 cl=2 side=buy px=101 qty=5
> accepted cl=2 oid=3 px=101 qty=5 leaves=5 last
)");
}

UDR_TEST(a_refused_request_cancels_nothing) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=5 side=buy px=99 qty=5
> accepted cl=5 oid=1 px=99 qty=5 leaves=5 last
mass_cancel sess=1 cl=5
> mass_report cl=5 reason=99 refused last
mass_cancel sess=1 cl=6 sec=9
> mass_report cl=6 sec=9 reason=1 refused last
mass_cancel sess=1 cl=7 why=1
> mass_report cl=7 reason=99 refused last
mass_cancel sess=99 cl=8
> mass_report cl=8 reason=99 refused last
mass_cancel sess=1 cl=9 side=3
> mass_report cl=9 side=3 reason=99 refused last
live 1
mass_cancel sess=2 cl=1
> mass_report cl=1 qty=0 last
live 1
)");
}

UDR_TEST(the_cancels_survive_a_snapshot_and_a_canceled_order_cannot_be_canceled_again) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=1 side=buy px=99 qty=5
> accepted cl=1 oid=1 px=99 qty=5 leaves=5 last
mass_cancel sess=1 cl=2
> mass_report cl=2 qty=1
> canceled sec=1 side=buy cl=1 orig=1 oid=1 reason=MassCancel last
restore
cancel sess=1 cl=3 orig=1 side=buy
> cancel_rejected cl=3 orig=1 reason=TooLateToCancel last
live 0
)");
}
