// The engine validates every command again (a backstop behind the router's checks).
#include "engine_test.h"

UDR_TEST(new_order_fields_out_of_range_are_rejected_with_the_schema_reason) {
    UDR_CHECK_SCRIPT(R"(
engine max_sessions=4
instrument sec=1 tick=5 min=5 max=1000 max_qty=100
new sess=1 cl=1 sec=2 side=buy px=10 qty=1
> rejected cl=1 sec=2 px=10 qty=1 reason=UnknownSymbol last
new sess=1 cl=2 side=3 px=10 qty=1
> rejected cl=2 side=3 px=10 qty=1 reason=UnsupportedOrderCharacteristic last
new sess=1 cl=3 side=buy type=3 px=10 qty=1
> rejected cl=3 px=10 qty=1 reason=UnsupportedOrderCharacteristic last
new sess=1 cl=4 side=buy tif=1 px=10 qty=1
> rejected cl=4 px=10 qty=1 reason=UnsupportedOrderCharacteristic last
new sess=1 cl=5 side=buy px=10 qty=0
> rejected cl=5 px=10 qty=0 reason=IncorrectQuantity last
new sess=1 cl=6 side=buy px=10 qty=101
> rejected cl=6 px=10 qty=101 reason=IncorrectQuantity last
new sess=1 cl=7 side=buy px=0 qty=1
> rejected cl=7 px=0 qty=1 reason=PriceExceedsCurrentPriceBand last
new sess=1 cl=8 side=sell px=1005 qty=1
> rejected cl=8 side=sell px=1005 qty=1 reason=PriceExceedsCurrentPriceBand last
new sess=1 cl=9 side=buy px=-5 qty=1
> rejected cl=9 px=-5 qty=1 reason=PriceExceedsCurrentPriceBand last
new sess=1 cl=10 side=buy px=12 qty=1
> rejected cl=10 px=12 qty=1 reason=InvalidPriceIncrement last
new sess=5 cl=1 side=buy px=10 qty=1
> rejected cl=1 px=10 qty=1 reason=Other last
raw kind=9 sess=1 cl=11
> rejected cl=11 reason=Other last
new sess=1 cl=12 side=buy px=1000 qty=100
> accepted cl=12 oid=13 px=1000 qty=100 leaves=100 last
live 1
)");
}

UDR_TEST(replace_fields_out_of_range_are_refused_and_keep_the_order) {
    UDR_CHECK_SCRIPT(R"(
instrument sec=1 tick=5 min=5 max=1000 max_qty=100
new sess=1 cl=1 side=buy px=10 qty=1
> accepted cl=1 oid=1 px=10 qty=1 leaves=1 last
replace sess=1 cl=2 orig=1 side=buy px=10 qty=0
> cancel_rejected cl=2 orig=1 oid=1 reason=IncorrectQuantity to_replace last
replace sess=1 cl=3 orig=1 side=buy px=10 qty=101
> cancel_rejected cl=3 orig=1 oid=1 reason=IncorrectQuantity to_replace last
replace sess=1 cl=4 orig=1 side=buy px=1010 qty=1
> cancel_rejected cl=4 orig=1 oid=1 reason=PriceExceedsCurrentPriceBand to_replace last
replace sess=1 cl=5 orig=1 side=buy px=11 qty=1
> cancel_rejected cl=5 orig=1 oid=1 reason=InvalidPriceIncrement to_replace last
replace sess=99 cl=6 orig=1 side=buy px=10 qty=1
> cancel_rejected sess=99 cl=6 orig=1 reason=Other to_replace last
cancel sess=1 cl=7 orig=1 side=buy
> canceled cl=7 orig=1 oid=1 reason=ClientRequest last
)");
}

UDR_TEST(configuration_the_engine_cannot_serve_is_refused_at_construction) {
    using namespace udprouter::engine;
    auto refused = [](const EngineConfig& config) {
        try {
            Engine engine(config);
        } catch (const EngineConfigError&) {
            return true;
        }
        return false;
    };
    UDR_CHECK(refused(EngineConfig{{InstrumentSpec{1, 0, 1, 10, 1}}, 10, 1, false}));
    UDR_CHECK(refused(EngineConfig{{InstrumentSpec{1, 2, 1, 10, 1}}, 10, 1, false}));
    UDR_CHECK(refused(EngineConfig{{InstrumentSpec{1, 1, 10, 1, 1}}, 10, 1, false}));
    UDR_CHECK(refused(EngineConfig{{InstrumentSpec{1, 1, 1, 10, 0}}, 10, 1, false}));
    UDR_CHECK(refused(EngineConfig{{InstrumentSpec{1, 1, 0, int64_t{1} << 40, 1}}, 10, 1, false}));
    UDR_CHECK(refused(EngineConfig{{InstrumentSpec{1, 1, 1, 10, 1}, InstrumentSpec{1, 1, 1, 10, 1}}, 10, 1, false}));
    UDR_CHECK(!refused(EngineConfig{{InstrumentSpec{1, 10'000'000, 90'000'000'000, 110'000'000'000, 1'000'000}}, 10, 1, false}));
}
