"""UDP client helpers shared by the system tests of order behaviour: sessions opened and closed
together, and reports read with a bounded wait."""

from __future__ import annotations

import contextlib

import pytest

from udprouter.client import Client

REPORT_TIMEOUT_S = 5.0


@contextlib.asynccontextmanager
async def clients(router, *keys):
    """One session per key (its secret is `<key>-secret`), all closed (Terminate) on the way out."""
    opened = []
    try:
        for key in keys:
            opened.append(await Client.connect(*router.udp, key, f"{key}-secret"))
        yield opened
    finally:
        for client in opened:
            await client.close()


async def reports(client: Client, count: int, timeout: float = REPORT_TIMEOUT_S) -> list:
    return [await client.next_report(timeout) for _ in range(count)]


async def no_more_reports(client: Client, wait: float = 0.2) -> None:
    with pytest.raises(TimeoutError):
        await client.next_report(wait)
