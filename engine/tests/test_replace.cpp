// OrderCancelReplaceRequest: a quantity decrease keeps time priority; a price change or a
// quantity increase re-queues; a crossing replace trades; qty not above cum_qty is refused.
#include "engine_test.h"

static const char* kTwoBids = R"(
new sess=1 cl=1 side=buy px=100 qty=10
> accepted cl=1 oid=1 px=100 qty=10 leaves=10 last
new sess=2 cl=1 side=buy px=100 qty=10
> accepted cl=1 oid=2 px=100 qty=10 leaves=10 last
)";

UDR_TEST(quantity_decrease_keeps_time_priority) {
    UDR_CHECK_SCRIPT(std::string(kTwoBids) + R"(
replace sess=1 cl=2 orig=1 side=buy px=100 qty=6
> replaced cl=2 orig=1 oid=1 px=100 qty=6 leaves=6 last
new sess=3 cl=1 side=sell px=100 qty=6
> accepted cl=1 oid=4 px=100 qty=6 leaves=6
> trade cl=1 oid=4 px=100 qty=6 leaves=0 cum=6 aggr
> trade sess=1 side=buy cl=2 oid=1 px=100 qty=6 leaves=0 cum=6 last
live 1
)");
}

UDR_TEST(quantity_increase_loses_time_priority) {
    UDR_CHECK_SCRIPT(std::string(kTwoBids) + R"(
replace sess=1 cl=2 orig=1 side=buy px=100 qty=12
> replaced cl=2 orig=1 oid=1 px=100 qty=12 leaves=12 last
new sess=3 cl=1 side=sell px=100 qty=12
> accepted cl=1 oid=4 px=100 qty=12 leaves=12
> trade cl=1 oid=4 px=100 qty=10 leaves=2 cum=10 aggr
> trade sess=2 side=buy cl=1 oid=2 px=100 qty=10 leaves=0 cum=10
> trade cl=1 oid=4 px=100 qty=2 leaves=0 cum=12 aggr
> trade sess=1 side=buy cl=2 oid=1 px=100 qty=2 leaves=10 cum=2 last
)");
}

UDR_TEST(price_change_loses_time_priority) {
    UDR_CHECK_SCRIPT(std::string(kTwoBids) + R"(
replace sess=1 cl=2 orig=1 side=buy px=99 qty=10
> replaced cl=2 orig=1 oid=1 px=99 qty=10 leaves=10 last
replace sess=1 cl=3 orig=2 side=buy px=100 qty=10
> replaced cl=3 orig=2 oid=1 px=100 qty=10 leaves=10 last
new sess=3 cl=1 side=sell px=100 qty=11
> accepted cl=1 oid=5 px=100 qty=11 leaves=11
> trade cl=1 oid=5 px=100 qty=10 leaves=1 cum=10 aggr
> trade sess=2 side=buy cl=1 oid=2 px=100 qty=10 leaves=0 cum=10
> trade cl=1 oid=5 px=100 qty=1 leaves=0 cum=11 aggr
> trade sess=1 side=buy cl=3 oid=1 px=100 qty=1 leaves=9 cum=1 last
)");
}

UDR_TEST(replace_that_crosses_trades_as_the_aggressor) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=1 side=sell px=105 qty=3
> accepted cl=1 oid=1 px=105 qty=3 leaves=3 last
new sess=2 cl=1 side=buy px=100 qty=5
> accepted cl=1 oid=2 px=100 qty=5 leaves=5 last
replace sess=2 cl=2 orig=1 side=buy px=106 qty=5
> replaced cl=2 orig=1 oid=2 px=106 qty=5 leaves=5
> trade cl=2 oid=2 px=105 qty=3 leaves=2 cum=3 aggr
> trade sess=1 side=sell cl=1 oid=1 px=105 qty=3 leaves=0 cum=3 last
live 1
replace sess=2 cl=3 orig=2 side=buy px=106 qty=4
> replaced cl=3 orig=2 oid=2 px=106 qty=4 leaves=1 cum=3 last
cancel sess=2 cl=4 orig=3 side=buy
> canceled cl=4 orig=3 oid=2 cum=3 reason=ClientRequest last
)");
}

UDR_TEST(replace_to_quantity_not_above_cum_qty_is_refused) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=1 side=buy px=100 qty=10
> accepted cl=1 oid=1 px=100 qty=10 leaves=10 last
new sess=2 cl=1 side=sell px=100 qty=4
> accepted cl=1 oid=2 px=100 qty=4 leaves=4
> trade cl=1 oid=2 px=100 qty=4 leaves=0 cum=4 aggr
> trade sess=1 side=buy cl=1 oid=1 px=100 qty=4 leaves=6 cum=4 last
replace sess=1 cl=2 orig=1 side=buy px=100 qty=4
> cancel_rejected cl=2 orig=1 oid=1 reason=IncorrectQuantity to_replace last
replace sess=1 cl=3 orig=1 side=buy px=100 qty=5
> replaced cl=3 orig=1 oid=1 px=100 qty=5 leaves=1 cum=4 last
)");
}

UDR_TEST(replace_of_an_unknown_order_is_refused) {
    UDR_CHECK_SCRIPT(R"(
replace sess=1 cl=2 orig=1 side=buy px=100 qty=4
> cancel_rejected cl=2 orig=1 reason=UnknownOrder to_replace last
live 0
)");
}

UDR_TEST(replaced_order_answers_only_to_its_new_cl_ord_id) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=1 side=buy px=100 qty=10
> accepted cl=1 oid=1 px=100 qty=10 leaves=10 last
replace sess=1 cl=2 orig=1 side=buy px=100 qty=9
> replaced cl=2 orig=1 oid=1 px=100 qty=9 leaves=9 last
cancel sess=1 cl=3 orig=1 side=buy
> cancel_rejected cl=3 orig=1 reason=TooLateToCancel last
cancel sess=1 cl=4 orig=2 side=buy
> canceled cl=4 orig=2 oid=1 reason=ClientRequest last
)");
}
