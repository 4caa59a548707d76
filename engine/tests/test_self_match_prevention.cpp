// Self-match prevention (option): a resting order of the incoming order's account is canceled
// (SelfMatchPrevention, reported to its own session) and matching continues behind it.
#include "engine_test.h"

UDR_TEST(resting_orders_of_the_same_account_are_canceled_and_matching_continues) {
    UDR_CHECK_SCRIPT(R"(
engine smp=1
new sess=1 acct=7 cl=1 side=sell px=100 qty=5
> accepted cl=1 oid=1 px=100 qty=5 leaves=5 last
new sess=2 acct=7 cl=1 side=sell px=100 qty=5
> accepted cl=1 oid=2 px=100 qty=5 leaves=5 last
new sess=3 acct=8 cl=1 side=sell px=101 qty=5
> accepted cl=1 oid=3 px=101 qty=5 leaves=5 last
new sess=4 acct=7 cl=1 side=buy px=101 qty=8
> accepted cl=1 oid=4 px=101 qty=8 leaves=8
> canceled sess=1 side=sell cl=1 orig=1 oid=1 reason=SelfMatchPrevention
> canceled sess=2 side=sell cl=1 orig=1 oid=2 reason=SelfMatchPrevention
> trade cl=1 oid=4 px=101 qty=5 leaves=3 cum=5 aggr
> trade sess=3 side=sell cl=1 oid=3 px=101 qty=5 leaves=0 cum=5 last
live 1
)");
}

UDR_TEST(without_the_option_the_same_account_trades) {
    UDR_CHECK_SCRIPT(R"(
engine smp=0
new sess=1 acct=7 cl=1 side=sell px=100 qty=5
> accepted cl=1 oid=1 px=100 qty=5 leaves=5 last
new sess=2 acct=7 cl=1 side=buy px=100 qty=5
> accepted cl=1 oid=2 px=100 qty=5 leaves=5
> trade cl=1 oid=2 px=100 qty=5 leaves=0 cum=5 aggr
> trade sess=1 side=sell cl=1 oid=1 px=100 qty=5 leaves=0 cum=5 last
)");
}

UDR_TEST(fok_does_not_count_own_account_quantity_and_cancels_nothing_when_killed) {
    UDR_CHECK_SCRIPT(R"(
engine smp=1
new sess=1 acct=7 cl=1 side=sell px=100 qty=5
> accepted cl=1 oid=1 px=100 qty=5 leaves=5 last
new sess=3 acct=8 cl=1 side=sell px=100 qty=5
> accepted cl=1 oid=2 px=100 qty=5 leaves=5 last
new sess=2 acct=7 cl=1 side=buy tif=fok px=100 qty=6
> accepted cl=1 oid=3 px=100 qty=6 leaves=6
> canceled cl=1 orig=1 oid=3 reason=FillOrKill last
live 2
new sess=2 acct=7 cl=2 side=buy tif=fok px=100 qty=5
> accepted cl=2 oid=4 px=100 qty=5 leaves=5
> canceled sess=1 side=sell cl=1 orig=1 oid=1 reason=SelfMatchPrevention
> trade cl=2 oid=4 px=100 qty=5 leaves=0 cum=5 aggr
> trade sess=3 side=sell cl=1 oid=2 px=100 qty=5 leaves=0 cum=5 last
live 0
)");
}

UDR_TEST(cancel_aggressing_cancels_the_incoming_remainder_and_keeps_the_resting_order) {
    UDR_CHECK_SCRIPT(R"(
engine smp=1
control acct=7 what=smp value=2
> account orig=7 px=2 reason=5 last
new sess=3 acct=8 cl=1 side=sell px=100 qty=3
> accepted cl=1 oid=2 px=100 qty=3 leaves=3 last
new sess=1 acct=7 cl=1 side=sell px=100 qty=5
> accepted cl=1 oid=3 px=100 qty=5 leaves=5 last
new sess=2 acct=7 cl=1 side=buy px=100 qty=8
> accepted cl=1 oid=4 px=100 qty=8 leaves=8
> trade cl=1 oid=4 px=100 qty=3 leaves=5 cum=3 aggr
> trade sess=3 side=sell cl=1 oid=2 px=100 qty=3 leaves=0 cum=3
> canceled cl=1 orig=1 oid=4 cum=3 reason=SelfMatchPreventionAggressor last
live 1
new sess=2 acct=7 cl=2 side=buy tif=fok px=100 qty=1
> accepted cl=2 oid=5 px=100 qty=1 leaves=1
> canceled cl=2 orig=2 oid=5 reason=FillOrKill last
)");
}

UDR_TEST(cancel_both_cancels_the_resting_and_the_incoming_order) {
    UDR_CHECK_SCRIPT(R"(
engine smp=0
control acct=7 what=smp value=3
> account orig=7 px=3 reason=5 last
new sess=1 acct=7 cl=1 side=sell px=100 qty=5
> accepted cl=1 oid=2 px=100 qty=5 leaves=5 last
new sess=2 acct=7 cl=1 side=buy px=100 qty=8
> accepted cl=1 oid=3 px=100 qty=8 leaves=8
> canceled sess=1 side=sell cl=1 orig=1 oid=2 reason=SelfMatchPrevention
> canceled cl=1 orig=1 oid=3 reason=SelfMatchPreventionAggressor last
live 0
)");
}

UDR_TEST(the_mode_can_be_turned_off_per_account_and_replace_uses_the_current_mode) {
    UDR_CHECK_SCRIPT(R"(
engine smp=1
new sess=1 acct=7 cl=1 side=sell px=101 qty=5
> accepted cl=1 oid=1 px=101 qty=5 leaves=5 last
new sess=2 acct=7 cl=1 side=buy px=99 qty=5
> accepted cl=1 oid=2 px=99 qty=5 leaves=5 last
control acct=7 what=smp value=0
> account orig=7 px=0 reason=5 last
restore
replace sess=2 acct=7 cl=2 orig=1 side=buy px=101 qty=5
> replaced cl=2 orig=1 oid=2 px=101 qty=5 leaves=5
> trade cl=2 oid=2 px=101 qty=5 leaves=0 cum=5 aggr
> trade sess=1 side=sell cl=1 oid=1 px=101 qty=5 leaves=0 cum=5 last
live 0
)");
}
