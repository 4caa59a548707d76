// FillOrKill: checked against the book without mutating it; fills in full or trades nothing.
#include "engine_test.h"

static const char* kBook = R"(
new sess=1 cl=1 side=sell px=100 qty=5
> accepted cl=1 oid=1 px=100 qty=5 leaves=5 last
new sess=1 cl=2 side=sell px=101 qty=5
> accepted cl=2 oid=2 px=101 qty=5 leaves=5 last
)";

UDR_TEST(fok_that_cannot_fill_in_full_is_canceled_without_trades) {
    UDR_CHECK_SCRIPT(std::string(kBook) + R"(
new sess=2 cl=1 side=buy tif=fok px=101 qty=11
> accepted cl=1 oid=3 px=101 qty=11 leaves=11
> canceled cl=1 orig=1 oid=3 cum=0 reason=FillOrKill last
live 2
new sess=2 cl=2 side=buy tif=fok px=100 qty=6
> accepted cl=2 oid=4 px=100 qty=6 leaves=6
> canceled cl=2 orig=2 oid=4 cum=0 reason=FillOrKill last
live 2
)");
}

UDR_TEST(fok_that_can_fill_trades_across_levels) {
    UDR_CHECK_SCRIPT(std::string(kBook) + R"(
new sess=2 cl=1 side=buy tif=fok px=101 qty=10
> accepted cl=1 oid=3 px=101 qty=10 leaves=10
> trade cl=1 oid=3 px=100 qty=5 leaves=5 cum=5 aggr
> trade sess=1 side=sell cl=1 oid=1 px=100 qty=5 leaves=0 cum=5
> trade cl=1 oid=3 px=101 qty=5 leaves=0 cum=10 aggr
> trade sess=1 side=sell cl=2 oid=2 px=101 qty=5 leaves=0 cum=5 last
live 0
)");
}

UDR_TEST(fok_for_part_of_the_book_leaves_the_rest) {
    UDR_CHECK_SCRIPT(std::string(kBook) + R"(
new sess=2 cl=1 side=buy tif=fok px=101 qty=7
> accepted cl=1 oid=3 px=101 qty=7 leaves=7
> trade cl=1 oid=3 px=100 qty=5 leaves=2 cum=5 aggr
> trade sess=1 side=sell cl=1 oid=1 px=100 qty=5 leaves=0 cum=5
> trade cl=1 oid=3 px=101 qty=2 leaves=0 cum=7 aggr
> trade sess=1 side=sell cl=2 oid=2 px=101 qty=2 leaves=3 cum=2 last
live 1
)");
}
