// ImmediateOrCancel: trades what it can within its limit, the remainder is canceled, never rests.
#include "engine_test.h"

UDR_TEST(ioc_fills_within_its_limit_and_cancels_the_remainder) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=1 side=sell px=100 qty=5
> accepted cl=1 oid=1 px=100 qty=5 leaves=5 last
new sess=1 cl=2 side=sell px=102 qty=5
> accepted cl=2 oid=2 px=102 qty=5 leaves=5 last
new sess=2 cl=1 side=buy tif=ioc px=101 qty=8
> accepted cl=1 oid=3 px=101 qty=8 leaves=8
> trade cl=1 oid=3 px=100 qty=5 leaves=3 cum=5 aggr
> trade sess=1 side=sell cl=1 oid=1 px=100 qty=5 leaves=0 cum=5
> canceled cl=1 orig=1 oid=3 cum=5 reason=ImmediateOrCancel last
live 1
)");
}

UDR_TEST(ioc_that_does_not_cross_is_canceled_without_trades) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=1 side=buy px=100 qty=5
> accepted cl=1 oid=1 px=100 qty=5 leaves=5 last
new sess=2 cl=1 side=sell tif=ioc px=101 qty=5
> accepted cl=1 oid=2 px=101 qty=5 leaves=5
> canceled cl=1 orig=1 oid=2 cum=0 reason=ImmediateOrCancel last
live 1
)");
}

UDR_TEST(ioc_filled_in_full_has_no_cancel) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=1 side=buy px=100 qty=5
> accepted cl=1 oid=1 px=100 qty=5 leaves=5 last
new sess=2 cl=1 side=sell tif=ioc px=99 qty=5
> accepted cl=1 oid=2 px=99 qty=5 leaves=5
> trade cl=1 oid=2 px=100 qty=5 leaves=0 cum=5 aggr
> trade sess=1 side=buy cl=1 oid=1 px=100 qty=5 leaves=0 cum=5 last
live 0
)");
}
