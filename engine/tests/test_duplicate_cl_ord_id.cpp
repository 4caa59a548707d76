// ClOrdID must exceed every ClOrdID the session used before (new, cancel, replace alike).
#include "engine_test.h"

UDR_TEST(repeated_or_lower_cl_ord_id_on_new_is_a_duplicate_order) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=5 side=buy px=10 qty=1
> accepted cl=5 oid=1 px=10 qty=1 leaves=1 last
new sess=1 cl=5 side=buy px=10 qty=1
> rejected cl=5 px=10 qty=1 reason=DuplicateOrder last
new sess=1 cl=4 side=buy px=10 qty=1
> rejected cl=4 px=10 qty=1 reason=DuplicateOrder last
new sess=1 cl=0 side=buy px=10 qty=1
> rejected cl=0 px=10 qty=1 reason=DuplicateOrder last
live 1
)");
}

UDR_TEST(sessions_have_independent_marks) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=5 side=buy px=10 qty=1
> accepted cl=5 oid=1 px=10 qty=1 leaves=1 last
new sess=2 cl=5 side=buy px=10 qty=1
> accepted cl=5 oid=2 px=10 qty=1 leaves=1 last
)");
}

UDR_TEST(cancel_and_replace_use_and_advance_the_same_mark) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=5 side=buy px=10 qty=1
> accepted cl=5 oid=1 px=10 qty=1 leaves=1 last
cancel sess=1 cl=5 orig=5 side=buy
> cancel_rejected cl=5 orig=5 reason=DuplicateClOrdID last
replace sess=1 cl=3 orig=5 side=buy px=11 qty=1
> cancel_rejected cl=3 orig=5 reason=DuplicateClOrdID to_replace last
cancel sess=1 cl=9 orig=77 side=buy
> cancel_rejected cl=9 orig=77 reason=UnknownOrder last
new sess=1 cl=9 side=buy px=10 qty=1
> rejected cl=9 px=10 qty=1 reason=DuplicateOrder last
live 1
)");
}

UDR_TEST(rejected_new_still_consumes_its_cl_ord_id) {
    UDR_CHECK_SCRIPT(R"(
new sess=1 cl=10 sec=99 side=buy px=10 qty=1
> rejected cl=10 sec=99 px=10 qty=1 reason=UnknownSymbol last
new sess=1 cl=10 side=buy px=10 qty=1
> rejected cl=10 px=10 qty=1 reason=DuplicateOrder last
new sess=1 cl=11 side=buy px=10 qty=1
> accepted cl=11 oid=3 px=10 qty=1 leaves=1 last
)");
}
