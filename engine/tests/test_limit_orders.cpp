// Limit orders: resting, price-time priority, partial fills across levels, price improvement.
#include "engine_test.h"

UDR_TEST(limit_order_into_empty_book_rests) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=1 side=buy px=100 qty=10
> accepted cl=1 oid=1 px=100 qty=10 leaves=10 last
live 1
)");
}

UDR_TEST(buy_sweeps_levels_best_price_first_and_rests_its_remainder) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=1 side=sell px=100 qty=10
> accepted cl=1 oid=1 px=100 qty=10 leaves=10 last
new sess=1 cl=2 side=sell px=101 qty=10
> accepted cl=2 oid=2 px=101 qty=10 leaves=10 last
new sess=3 cl=1 side=sell px=101 qty=5
> accepted cl=1 oid=3 px=101 qty=5 leaves=5 last
new sess=1 cl=3 side=sell px=102 qty=5
> accepted cl=3 oid=4 px=102 qty=5 leaves=5 last
new sess=2 cl=1 side=buy px=101 qty=30
> accepted cl=1 oid=5 px=101 qty=30 leaves=30
> trade cl=1 oid=5 px=100 qty=10 leaves=20 cum=10 aggr
> trade sess=1 side=sell cl=1 oid=1 px=100 qty=10 leaves=0 cum=10
> trade cl=1 oid=5 px=101 qty=10 leaves=10 cum=20 aggr
> trade sess=1 side=sell cl=2 oid=2 px=101 qty=10 leaves=0 cum=10
> trade cl=1 oid=5 px=101 qty=5 leaves=5 cum=25 aggr
> trade sess=3 side=sell cl=1 oid=3 px=101 qty=5 leaves=0 cum=5 last
live 2
new sess=3 cl=2 side=sell px=101 qty=2
> accepted cl=2 oid=6 px=101 qty=2 leaves=2
> trade cl=2 oid=6 px=101 qty=2 leaves=0 cum=2 aggr
> trade sess=2 side=buy cl=1 oid=5 px=101 qty=2 leaves=3 cum=27 last
live 2
)");
}

UDR_TEST(earlier_order_at_same_price_fills_first) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=1 side=buy px=50 qty=4
> accepted cl=1 oid=1 px=50 qty=4 leaves=4 last
new sess=2 cl=1 side=buy px=50 qty=4
> accepted cl=1 oid=2 px=50 qty=4 leaves=4 last
new sess=3 cl=1 side=sell px=50 qty=6
> accepted cl=1 oid=3 px=50 qty=6 leaves=6
> trade cl=1 oid=3 px=50 qty=4 leaves=2 cum=4 aggr
> trade sess=1 side=buy cl=1 oid=1 px=50 qty=4 leaves=0 cum=4
> trade cl=1 oid=3 px=50 qty=2 leaves=0 cum=6 aggr
> trade sess=2 side=buy cl=1 oid=2 px=50 qty=2 leaves=2 cum=2 last
live 1
)");
}

UDR_TEST(aggressive_limit_trades_at_the_resting_price) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=1 side=buy px=90 qty=3
> accepted cl=1 oid=1 px=90 qty=3 leaves=3 last
new sess=2 cl=1 side=sell px=80 qty=3
> accepted cl=1 oid=2 px=80 qty=3 leaves=3
> trade cl=1 oid=2 px=90 qty=3 leaves=0 cum=3 aggr
> trade sess=1 side=buy cl=1 oid=1 px=90 qty=3 leaves=0 cum=3 last
live 0
)");
}

UDR_TEST(non_crossing_orders_on_both_sides_rest) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=1 side=buy px=99 qty=1
> accepted cl=1 oid=1 px=99 qty=1 leaves=1 last
new sess=2 cl=1 side=sell px=100 qty=1
> accepted cl=1 oid=2 px=100 qty=1 leaves=1 last
live 2
)");
}
