"""udp_ab: which router runs first alternates from round to round, so over an even number of rounds
the position (which moves the figures by itself) falls on both builds equally."""

from __future__ import annotations

from bench.udp_ab import round_order


def test_each_router_goes_first_in_every_other_round():
    servers = {"before": "B", "after": "A"}
    firsts = [round_order(servers, r)[0][0] for r in range(4)]
    assert firsts == ["before", "after", "before", "after"]
    assert all(sorted(round_order(servers, r)) == sorted(servers.items()) for r in range(4))
