// Market orders: no price limit, never rest; an unfilled remainder is canceled (ImmediateOrCancel).
#include "engine_test.h"

UDR_TEST(market_order_into_empty_book_is_accepted_then_canceled) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=1 side=buy type=market qty=10
> accepted cl=1 oid=1 px=0 qty=10 leaves=10
> canceled cl=1 orig=1 oid=1 cum=0 reason=ImmediateOrCancel last
live 0
)");
}

UDR_TEST(market_buy_sweeps_every_level_and_cancels_the_rest) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=1 side=sell px=100 qty=5
> accepted cl=1 oid=1 px=100 qty=5 leaves=5 last
new sess=1 cl=2 side=sell px=900 qty=5
> accepted cl=2 oid=2 px=900 qty=5 leaves=5 last
new sess=2 cl=1 side=buy type=market qty=20
> accepted cl=1 oid=3 px=0 qty=20 leaves=20
> trade cl=1 oid=3 px=100 qty=5 leaves=15 cum=5 aggr
> trade sess=1 side=sell cl=1 oid=1 px=100 qty=5 leaves=0 cum=5
> trade cl=1 oid=3 px=900 qty=5 leaves=10 cum=10 aggr
> trade sess=1 side=sell cl=2 oid=2 px=900 qty=5 leaves=0 cum=5
> canceled cl=1 orig=1 oid=3 cum=10 reason=ImmediateOrCancel last
live 0
)");
}

UDR_TEST(market_sell_filled_in_full_has_no_cancel) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=1 side=buy px=2 qty=8
> accepted cl=1 oid=1 px=2 qty=8 leaves=8 last
new sess=2 cl=1 side=sell type=market qty=3 px=777
> accepted cl=1 oid=2 px=0 qty=3 leaves=3
> trade cl=1 oid=2 px=2 qty=3 leaves=0 cum=3 aggr
> trade sess=1 side=buy cl=1 oid=1 px=2 qty=3 leaves=5 cum=3 last
live 1
)");
}

UDR_TEST(market_fok_that_cannot_fill_trades_nothing) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=1 side=sell px=10 qty=5
> accepted cl=1 oid=1 px=10 qty=5 leaves=5 last
new sess=2 cl=1 side=buy type=market tif=fok qty=6
> accepted cl=1 oid=2 px=0 qty=6 leaves=6
> canceled cl=1 orig=1 oid=2 cum=0 reason=FillOrKill last
live 1
)");
}
