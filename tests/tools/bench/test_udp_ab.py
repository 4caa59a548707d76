"""udp_ab: which router runs first alternates from round to round, so over an even number of rounds
the position (which moves the figures by itself) falls on both builds equally."""

from __future__ import annotations

from bench.udp_ab import round_order
from bench.udp_servers import router_config
from udprouter.config import parse_config


def test_each_router_goes_first_in_every_other_round():
    servers = {"before": "B", "after": "A"}
    firsts = [round_order(servers, r)[0][0] for r in range(4)]
    assert firsts == ["before", "after", "before", "after"]
    assert all(sorted(round_order(servers, r)) == sorted(servers.items()) for r in range(4))


def test_each_side_s_settings_reach_the_router_config(tmp_path):
    """The settings udp_ab sets on one side are in the config that router starts with (the engine's
    wait and low_rate in one [engine] table), and everything else stays the built-in default."""
    config = parse_config(router_config(tmp_path, "hybrid", answer_wait_us=0, router_wait="sleep",
                                        engine_low_rate=3000))
    assert (config.engine.wait, config.engine.low_rate) == ("hybrid", 3000)
    assert (config.udp.answer_wait_us, config.udp.wait) == (0, "sleep")
    default = parse_config(router_config(tmp_path, None))
    assert default.engine == parse_config("").engine
    assert default.udp.answer_wait_us == parse_config("").udp.answer_wait_us
