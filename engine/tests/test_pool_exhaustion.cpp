// A full order pool rejects resting orders (OrderBookFull) and recovers when orders leave.
#include "engine_test.h"

UDR_TEST(day_order_with_the_pool_full_is_rejected_order_book_full) {
    UDR_CHECK_SCRIPT(R"(
engine max_orders=2
new sess=1 cl=1 side=buy px=10 qty=1
> accepted cl=1 oid=1 px=10 qty=1 leaves=1 last
new sess=1 cl=2 side=buy px=11 qty=1
> accepted cl=2 oid=2 px=11 qty=1 leaves=1 last
new sess=1 cl=3 side=buy px=12 qty=1
> rejected cl=3 px=12 qty=1 reason=OrderBookFull last
live 2
)");
}

UDR_TEST(ioc_still_trades_with_the_pool_full) {
    UDR_CHECK_SCRIPT(R"(
engine max_orders=1
new sess=1 cl=1 side=buy px=10 qty=2
> accepted cl=1 oid=1 px=10 qty=2 leaves=2 last
new sess=2 cl=1 side=sell tif=ioc px=10 qty=1
> accepted cl=1 oid=2 px=10 qty=1 leaves=1
> trade cl=1 oid=2 px=10 qty=1 leaves=0 cum=1 aggr
> trade sess=1 side=buy cl=1 oid=1 px=10 qty=1 leaves=1 cum=1 last
)");
}

UDR_TEST(pool_slots_freed_by_cancel_and_fill_are_reused) {
    UDR_CHECK_SCRIPT(R"(
engine max_orders=1
new sess=1 cl=1 side=buy px=10 qty=1
> accepted cl=1 oid=1 px=10 qty=1 leaves=1 last
cancel sess=1 cl=2 orig=1 side=buy
> canceled cl=2 orig=1 oid=1 reason=ClientRequest last
new sess=1 cl=3 side=buy px=10 qty=1
> accepted cl=3 oid=3 px=10 qty=1 leaves=1 last
new sess=2 cl=1 side=sell px=10 qty=1
> rejected cl=1 px=10 qty=1 reason=OrderBookFull last
new sess=2 cl=2 side=sell tif=ioc px=10 qty=1
> accepted cl=2 oid=5 px=10 qty=1 leaves=1
> trade cl=2 oid=5 px=10 qty=1 leaves=0 cum=1 aggr
> trade sess=1 side=buy cl=3 oid=3 px=10 qty=1 leaves=0 cum=1 last
new sess=2 cl=3 side=sell px=10 qty=1
> accepted cl=3 oid=6 px=10 qty=1 leaves=1 last
live 1
)");
}

UDR_TEST(many_rejected_orders_never_grow_the_engine) {
    using namespace udprouter::engine;
    Engine engine(EngineConfig{{InstrumentSpec{1, 1, 1, 1000, 1000}}, 8, 4, false});
    uint64_t seq = 0;
    for (uint64_t cl = 1; cl <= 10000; ++cl) {
        const auto events = udr_test::apply(engine, udr_test::new_order(++seq, 1, cl, 1, 1 + cl % 500, 1));
        UDR_CHECK_EQ(events.size(), size_t{1});
        UDR_CHECK_EQ(events.back().kind, cl <= 8 ? UDR_EVT_ACCEPTED : UDR_EVT_REJECTED);
    }
    UDR_CHECK_EQ(engine.live_orders(), 8u);
}
