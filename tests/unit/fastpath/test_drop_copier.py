"""DropCopier (C, drop_copy.h) against the Python reference: which frames are copied, and the bytes."""

from hypothesis import given, settings
from hypothesis import strategies as st

from udprouter._generated.messages import (
    BooleanFlag,
    BusinessMessageReject,
    BusinessRejectReason,
    CxlRejReason,
    CxlRejResponseTo,
    DropCopy,
    ExecutionReportNew,
    ExecutionReportTrade,
    NotApplied,
    OrderCancelReject,
    Side,
)
from udprouter.codec import decode_frames, encode_message
from udprouter.fastpath.drop_copier import DropCopier, copies_reference

NEW = encode_message(ExecutionReportNew(11, 2, 3, 4, 100, 10, 1, Side.Buy))
TRADE = encode_message(ExecutionReportTrade(11, 2, 5, 6, 100, 4, 6, 4, 1, Side.Buy, BooleanFlag(1)))
CXL_REJECT = encode_message(OrderCancelReject(12, 11, 7, 8, 1, CxlRejResponseTo(1), CxlRejReason(1)))
NOT_COPIED = [encode_message(BusinessMessageReject(3, 9, 101, BusinessRejectReason.Throttled)),
              encode_message(NotApplied(4, 2))]


def test_only_execution_reports_are_copied_each_behind_its_drop_copy_frame():
    frames = [NEW, NOT_COPIED[0], TRADE, NOT_COPIED[1], CXL_REJECT]
    copier = DropCopier()
    copies = copier.copies(frames, 0xABCDEF, 7)
    assert copier._walked[0] == sum(map(len, frames))  # made in C, not by the reference
    assert copies == copies_reference(frames, 0xABCDEF, 7)
    assert [decode_frames(c)[0] for c in copies] == [DropCopy(0xABCDEF, 7)] * 3
    assert [c[22:] for c in copies] == [NEW, TRADE, CXL_REJECT]  # the report, byte for byte


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([NEW, TRADE, CXL_REJECT, *NOT_COPIED]), max_size=400),
       st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_c_copies_equal_the_reference_for_any_mix(frames, session_number, account):
    assert DropCopier(frames=4, out_bytes=64).copies(frames, session_number, account) \
        == copies_reference(frames, session_number, account)


def test_an_element_that_is_not_a_whole_frame_is_copied_by_the_reference():
    frames = [NEW, NEW[:-1], TRADE]
    assert DropCopier().copies(frames, 1, 2) == copies_reference(frames, 1, 2)
