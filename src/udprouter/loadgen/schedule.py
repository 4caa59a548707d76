"""Intended send times: the fixed schedule a paced run follows and its latencies are measured from.

Times are integer nanoseconds after the run's start, computed exactly (no float accumulation), so
datagram i of a run at R orders/s with K orders per datagram is due at floor(i * K * 1e9 / R).
"""

from array import array

NS_PER_S = 1_000_000_000


def paced_schedule(n_datagrams: int, orders_per_datagram: int, rate_orders_per_s: int) -> array:
    """Intended send time (ns after start) of each datagram for a fixed offered order rate."""
    if rate_orders_per_s <= 0 or orders_per_datagram <= 0 or n_datagrams < 0:
        raise ValueError("rate and orders per datagram must be positive, the count not negative")
    step = orders_per_datagram * NS_PER_S
    return array("q", (i * step // rate_orders_per_s for i in range(n_datagrams)))

