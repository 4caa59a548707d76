// OrderStatusRequest: the live order's OrdStatus, quantities and price; REFUSED when the session
// has no live order under that ClOrdID and SecurityID (the router answers filled and canceled
// orders from its own record of the session's reports).
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

UDR_TEST(an_order_that_is_not_live_or_not_the_sessions_is_unknown) {
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
status sess=1 cl=1
> status cl=1 refused last
)");
}
