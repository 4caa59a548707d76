// Account controls in the order path (account_table.h): each limit at its boundary and one past it,
// across the account's sessions, each breach with its own OrdRejReason. Notional limits are in whole
// price units: these scripts price in raw mantissas, so px=1000000000 is 1.0.
#include "engine_test.h"

UDR_TEST(max_order_notional_accepts_the_boundary_and_rejects_one_past_it) {
    UDR_CHECK_SCRIPT(R"(
instrument sec=1 tick=1000000000 min=1000000000 max=100000000000 max_qty=1000
control acct=7 what=max_order_notional value=50
> account orig=7 px=50 reason=1 last
new sess=1 acct=7 cl=1 side=buy px=10000000000 qty=5
> accepted cl=1 oid=2 px=10000000000 qty=5 leaves=5 last
new sess=1 acct=7 cl=2 side=buy px=10000000000 qty=6
> rejected cl=2 px=10000000000 qty=6 reason=ExceededMaxNotionalOrderAmt last
new sess=2 acct=8 cl=1 side=buy px=10000000000 qty=6
> accepted cl=1 oid=4 px=10000000000 qty=6 leaves=6 last
)");
}

UDR_TEST(max_open_notional_counts_resting_orders_per_side_across_sessions) {
    UDR_CHECK_SCRIPT(R"(
instrument sec=1 tick=1000000000 min=1000000000 max=100000000000 max_qty=1000
control acct=7 what=max_open_notional value=100
> account orig=7 px=100 reason=2 last
new sess=1 acct=7 cl=1 side=buy px=10000000000 qty=6
> accepted cl=1 oid=2 px=10000000000 qty=6 leaves=6 last
new sess=2 acct=7 cl=1 side=buy px=10000000000 qty=4
> accepted cl=1 oid=3 px=10000000000 qty=4 leaves=4 last
new sess=2 acct=7 cl=2 side=buy px=1000000000 qty=1
> rejected cl=2 px=1000000000 qty=1 reason=InsufficientCreditLimit last
new sess=2 acct=7 cl=3 side=sell px=20000000000 qty=5
> accepted cl=3 oid=5 px=20000000000 qty=5 leaves=5 last
new sess=2 acct=7 cl=4 side=buy tif=ioc px=1000000000 qty=1
> accepted cl=4 oid=6 px=1000000000 qty=1 leaves=1
> canceled cl=4 orig=4 oid=6 reason=ImmediateOrCancel last
cancel sess=1 acct=7 cl=2 orig=1 side=buy
> canceled cl=2 orig=1 oid=2 reason=ClientRequest last
new sess=2 acct=7 cl=5 side=buy px=10000000000 qty=6
> accepted cl=5 oid=8 px=10000000000 qty=6 leaves=6 last
new sess=3 acct=8 cl=1 side=sell px=10000000000 qty=6
> accepted cl=1 oid=9 px=10000000000 qty=6 leaves=6
> trade cl=1 oid=9 px=10000000000 qty=4 leaves=2 cum=4 aggr
> trade sess=2 side=buy cl=1 oid=3 px=10000000000 qty=4 leaves=0 cum=4
> trade cl=1 oid=9 px=10000000000 qty=2 leaves=0 cum=6 aggr
> trade sess=2 side=buy cl=5 oid=8 px=10000000000 qty=2 leaves=4 cum=2 last
new sess=2 acct=7 cl=6 side=buy px=10000000000 qty=6
> accepted cl=6 oid=10 px=10000000000 qty=6 leaves=6 last
new sess=2 acct=7 cl=7 side=buy px=1000000000 qty=1
> rejected cl=7 px=1000000000 qty=1 reason=InsufficientCreditLimit last
restore
new sess=2 acct=7 cl=8 side=buy px=1000000000 qty=1
> rejected cl=8 px=1000000000 qty=1 reason=InsufficientCreditLimit last
)");
}

UDR_TEST(orders_resting_before_the_limit_count_toward_it) {
    UDR_CHECK_SCRIPT(R"(
instrument sec=1 tick=1000000000 min=1000000000 max=100000000000 max_qty=1000
new sess=1 acct=7 cl=1 side=sell px=10000000000 qty=9
> accepted cl=1 oid=1 px=10000000000 qty=9 leaves=9 last
control acct=7 what=max_open_notional value=100
> account orig=7 px=100 reason=2 last
new sess=1 acct=7 cl=2 side=sell px=10000000000 qty=2
> rejected cl=2 px=10000000000 qty=2 reason=InsufficientCreditLimit last
new sess=1 acct=7 cl=3 side=sell px=10000000000 qty=1
> accepted cl=3 oid=4 px=10000000000 qty=1 leaves=1 last
)");
}

UDR_TEST(max_position_counts_fills_per_instrument_both_ways) {
    UDR_CHECK_SCRIPT(R"(
control acct=7 what=max_position value=10
> account orig=7 px=10 reason=3 last
new sess=2 acct=8 cl=1 side=sell px=100 qty=100
> accepted cl=1 oid=2 px=100 qty=100 leaves=100 last
new sess=1 acct=7 cl=1 side=buy tif=ioc px=100 qty=10
> accepted cl=1 oid=3 px=100 qty=10 leaves=10
> trade cl=1 oid=3 px=100 qty=10 leaves=0 cum=10 aggr
> trade sess=2 side=sell cl=1 oid=2 px=100 qty=10 leaves=90 cum=10 last
new sess=1 acct=7 cl=2 side=buy px=100 qty=1
> rejected cl=2 px=100 qty=1 reason=PositionLimitExceeded last
new sess=1 acct=7 cl=3 side=sell px=200 qty=20
> accepted cl=3 oid=5 px=200 qty=20 leaves=20 last
new sess=1 acct=7 cl=4 side=sell px=200 qty=21
> rejected cl=4 px=200 qty=21 reason=PositionLimitExceeded last
restore
new sess=1 acct=7 cl=5 side=buy px=100 qty=1
> rejected cl=5 px=100 qty=1 reason=PositionLimitExceeded last
)");
}

// The check skips reading the position while the account's largest |position| so far plus the order
// fits: a position that went back to 0 (in this instrument, or another one never traded) is read
// exactly, before and after a restore.
UDR_TEST(max_position_is_exact_after_a_position_shrinks_and_in_other_instruments) {
    UDR_CHECK_SCRIPT(R"(
instrument sec=1 tick=1 min=1 max=1000 max_qty=1000
instrument sec=2 tick=1 min=1 max=1000 max_qty=1000
control acct=7 what=max_position value=10
> account orig=7 px=10 reason=3 last
new sess=2 acct=8 cl=1 side=sell px=100 qty=100
> accepted cl=1 oid=2 px=100 qty=100 leaves=100 last
new sess=2 acct=8 cl=2 side=buy px=50 qty=100
> accepted cl=2 oid=3 px=50 qty=100 leaves=100 last
new sess=1 acct=7 cl=1 side=buy tif=ioc px=100 qty=10
> accepted cl=1 oid=4 px=100 qty=10 leaves=10
> trade cl=1 oid=4 px=100 qty=10 leaves=0 cum=10 aggr
> trade sess=2 side=sell cl=1 oid=2 px=100 qty=10 leaves=90 cum=10 last
new sess=1 acct=7 cl=2 side=sell tif=ioc px=50 qty=10
> accepted cl=2 oid=5 px=50 qty=10 leaves=10
> trade cl=2 oid=5 px=50 qty=10 leaves=0 cum=10 aggr
> trade sess=2 side=buy cl=2 oid=3 px=50 qty=10 leaves=90 cum=10 last
new sess=1 acct=7 cl=3 side=buy px=10 qty=10
> accepted cl=3 oid=6 px=10 qty=10 leaves=10 last
new sess=1 acct=7 cl=4 side=buy px=10 qty=11
> rejected cl=4 px=10 qty=11 reason=PositionLimitExceeded last
new sess=1 acct=7 cl=5 sec=2 side=sell px=900 qty=10
> accepted cl=5 oid=8 px=900 qty=10 leaves=10 last
new sess=1 acct=7 cl=6 sec=2 side=sell px=900 qty=11
> rejected cl=6 px=900 qty=11 reason=PositionLimitExceeded last
restore
new sess=1 acct=7 cl=7 side=buy px=10 qty=11
> rejected cl=7 px=10 qty=11 reason=PositionLimitExceeded last
new sess=1 acct=7 cl=8 side=buy px=10 qty=10
> accepted cl=8 oid=11 px=10 qty=10 leaves=10 last
)");
}

UDR_TEST(max_orders_per_second_spans_the_accounts_sessions_in_one_second_windows) {
    UDR_CHECK_SCRIPT(R"(
control acct=7 what=max_orders_per_s value=2
> account orig=7 px=2 reason=4 last
new sess=1 acct=7 cl=1 side=buy px=10 qty=1 t=5000000000
> accepted cl=1 oid=2 px=10 qty=1 leaves=1 last
new sess=2 acct=7 cl=1 side=buy px=10 qty=1 t=5500000000
> accepted cl=1 oid=3 px=10 qty=1 leaves=1 last
new sess=1 acct=7 cl=2 side=buy px=10 qty=1 t=5999999999
> rejected cl=2 px=10 qty=1 reason=OrderRateExceeded last
new sess=1 acct=7 cl=3 side=buy px=10 qty=1 t=6000000000
> accepted cl=3 oid=5 px=10 qty=1 leaves=1 last
)");
}

UDR_TEST(the_kill_switch_cancels_resting_orders_blocks_new_ones_and_turns_off) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 acct=7 cl=1 side=buy px=99 qty=5
> accepted cl=1 oid=1 px=99 qty=5 leaves=5 last
new sess=2 acct=7 cl=1 side=sell px=101 qty=5
> accepted cl=1 oid=2 px=101 qty=5 leaves=5 last
new sess=3 acct=8 cl=1 side=sell px=102 qty=5
> accepted cl=1 oid=3 px=102 qty=5 leaves=5 last
control acct=7 what=kill value=1 cl=77
> account cl=77 orig=7 px=1 qty=2 reason=6
> canceled sess=1 sec=1 side=buy cl=1 orig=1 oid=1 reason=KillSwitch
> canceled sess=2 sec=1 side=sell cl=1 orig=1 oid=2 reason=KillSwitch last
new sess=1 acct=7 cl=2 side=buy px=99 qty=5
> rejected cl=2 px=99 qty=5 reason=AccountKillSwitch last
restore
new sess=2 acct=7 cl=2 side=buy px=99 qty=5
> rejected cl=2 px=99 qty=5 reason=AccountKillSwitch last
control acct=7 what=kill value=0
> account orig=7 px=0 reason=6 last
new sess=1 acct=7 cl=3 side=buy px=99 qty=5
> accepted cl=3 oid=8 px=99 qty=5 leaves=5 last
live 2
)");
}

UDR_TEST(bad_controls_are_refused_and_change_nothing) {
    UDR_CHECK_SCRIPT(R"(
control acct=7 what=kill value=2
> account orig=7 px=2 reason=6 refused last
control acct=7 what=smp value=4
> account orig=7 px=4 reason=5 refused last
control acct=7 what=max_position value=-1
> account orig=7 px=-1 reason=3 refused last
control acct=7 what=9 value=1
> account orig=7 px=1 reason=9 refused last
control acct=0 what=kill value=1
> account px=1 reason=6 refused last
new sess=1 acct=7 cl=1 side=buy px=99 qty=5
> accepted cl=1 oid=6 px=99 qty=5 leaves=5 last
)");
}

UDR_TEST(a_query_reports_every_control_and_changes_nothing) {
    UDR_CHECK_SCRIPT(R"(
engine smp=1
control acct=7 what=0
> account orig=7 px=0 reason=1
> account orig=7 px=0 reason=2
> account orig=7 px=0 reason=3
> account orig=7 px=0 reason=4
> account orig=7 px=1 reason=5
> account orig=7 px=0 reason=6 last
control acct=7 what=max_position value=40
> account orig=7 px=40 reason=3 last
control acct=7 what=kill value=1
> account orig=7 px=1 reason=6 last
control acct=7 what=0 cl=5 sess=2
> account sess=2 cl=5 orig=7 px=0 reason=1
> account sess=2 cl=5 orig=7 px=0 reason=2
> account sess=2 cl=5 orig=7 px=40 reason=3
> account sess=2 cl=5 orig=7 px=0 reason=4
> account sess=2 cl=5 orig=7 px=1 reason=5
> account sess=2 cl=5 orig=7 px=1 reason=6 last
)");
}

// A replace meets the limits as the order would stand replaced: the boundary passes, one past it is
// refused with the limit's CxlRejReason and the order is left as it was; a replace that lowers a
// figure passes even when the account is past that limit.
UDR_TEST(a_replace_is_checked_against_the_account_limits) {
    UDR_CHECK_SCRIPT(R"(
instrument sec=1 tick=1000000000 min=1000000000 max=100000000000 max_qty=1000
control acct=7 what=max_order_notional value=50
> account orig=7 px=50 reason=1 last
control acct=7 what=max_open_notional value=80
> account orig=7 px=80 reason=2 last
control acct=7 what=max_position value=6
> account orig=7 px=6 reason=3 last
new sess=1 acct=7 cl=1 side=buy px=10000000000 qty=4
> accepted cl=1 oid=4 px=10000000000 qty=4 leaves=4 last
replace sess=1 acct=7 cl=2 orig=1 side=buy px=10000000000 qty=6
> cancel_rejected cl=2 orig=1 oid=4 reason=ExceededMaxNotionalOrderAmt to_replace last
replace sess=1 acct=7 cl=3 orig=1 side=buy px=10000000000 qty=5
> replaced cl=3 orig=1 oid=4 px=10000000000 qty=5 leaves=5 last
replace sess=1 acct=7 cl=4 orig=3 side=buy px=7000000000 qty=7
> cancel_rejected cl=4 orig=3 oid=4 reason=PositionLimitExceeded to_replace last
new sess=2 acct=7 cl=1 side=buy px=5000000000 qty=6
> accepted cl=1 oid=8 px=5000000000 qty=6 leaves=6 last
replace sess=2 acct=7 cl=2 orig=1 side=buy px=6000000000 qty=6
> cancel_rejected cl=2 orig=1 oid=8 reason=InsufficientCreditLimit to_replace last
replace sess=2 acct=7 cl=3 orig=1 side=buy px=5000000000 qty=6
> replaced cl=3 orig=1 oid=8 px=5000000000 qty=6 leaves=6 last
control acct=7 what=max_open_notional value=10
> account orig=7 px=10 reason=2 last
replace sess=2 acct=7 cl=4 orig=3 side=buy px=5000000000 qty=5
> replaced cl=4 orig=3 oid=8 px=5000000000 qty=5 leaves=5 last
replace sess=2 acct=7 cl=5 orig=4 side=buy px=6000000000 qty=5
> cancel_rejected cl=5 orig=4 oid=8 reason=InsufficientCreditLimit to_replace last
)");
}
