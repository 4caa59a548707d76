"""Faults injected into the router log compactor by its tests."""

from udprouter.router_log_compactor import _write_records as write_records


def write_then_fail(dst, records, slicer, src):
    """A worker that dies half way through its image (after folding into the carried state)."""
    def until_the_fourth():
        for i, record in enumerate(records):
            if i == 3:
                raise OSError("disk full")
            yield record
    return write_records(dst, until_the_fourth(), slicer, src)
