// OrderCancelRequest: removes the session's own live order; everything else is a CANCEL_REJECTED.
#include "engine_test.h"

UDR_TEST(cancel_removes_a_live_order) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=1 side=buy px=100 qty=10
> accepted cl=1 oid=1 px=100 qty=10 leaves=10 last
cancel sess=1 cl=2 orig=1 side=buy
> canceled cl=2 orig=1 oid=1 cum=0 reason=ClientRequest last
live 0
new sess=2 cl=1 side=sell px=100 qty=10
> accepted cl=1 oid=3 px=100 qty=10 leaves=10 last
live 1
)");
}

UDR_TEST(cancel_of_a_partly_filled_order_reports_its_cum_qty) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=1 side=buy px=100 qty=10
> accepted cl=1 oid=1 px=100 qty=10 leaves=10 last
new sess=2 cl=1 side=sell px=100 qty=4
> accepted cl=1 oid=2 px=100 qty=4 leaves=4
> trade cl=1 oid=2 px=100 qty=4 leaves=0 cum=4 aggr
> trade sess=1 side=buy cl=1 oid=1 px=100 qty=4 leaves=6 cum=4 last
cancel sess=1 cl=2 orig=1 side=buy
> canceled cl=2 orig=1 oid=1 cum=4 reason=ClientRequest last
live 0
)");
}

UDR_TEST(cancel_of_a_filled_order_is_too_late) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=1 side=buy px=100 qty=4
> accepted cl=1 oid=1 px=100 qty=4 leaves=4 last
new sess=2 cl=1 side=sell px=100 qty=4
> accepted cl=1 oid=2 px=100 qty=4 leaves=4
> trade cl=1 oid=2 px=100 qty=4 leaves=0 cum=4 aggr
> trade sess=1 side=buy cl=1 oid=1 px=100 qty=4 leaves=0 cum=4 last
cancel sess=1 cl=2 orig=1 side=buy
> cancel_rejected cl=2 orig=1 reason=TooLateToCancel last
)");
}

UDR_TEST(second_cancel_of_the_same_order_is_too_late) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=1 side=sell px=100 qty=4
> accepted cl=1 oid=1 px=100 qty=4 leaves=4 last
cancel sess=1 cl=2 orig=1 side=sell
> canceled cl=2 orig=1 oid=1 reason=ClientRequest last
cancel sess=1 cl=3 orig=1 side=sell
> cancel_rejected cl=3 orig=1 reason=TooLateToCancel last
)");
}

UDR_TEST(cancel_of_another_sessions_order_is_unknown_and_leaves_it) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=7 side=buy px=100 qty=4
> accepted cl=7 oid=1 px=100 qty=4 leaves=4 last
cancel sess=2 cl=8 orig=7 side=buy
> cancel_rejected cl=8 orig=7 reason=UnknownOrder last
live 1
)");
}

UDR_TEST(cancel_naming_the_wrong_side_or_security_is_unknown) {
    UDR_CHECK_SCRIPT(R"(
instrument sec=1
instrument sec=2
new sess=1 cl=1 side=buy px=100 qty=4
> accepted cl=1 oid=1 px=100 qty=4 leaves=4 last
cancel sess=1 cl=2 orig=1 side=sell
> cancel_rejected cl=2 orig=1 reason=UnknownOrder last
cancel sess=1 cl=3 orig=1 side=buy sec=2
> cancel_rejected cl=3 orig=1 reason=UnknownOrder last
live 1
cancel sess=1 cl=4 orig=1 side=buy
> canceled cl=4 orig=1 oid=1 reason=ClientRequest last
)");
}
