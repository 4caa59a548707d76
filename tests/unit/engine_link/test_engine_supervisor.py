"""EngineSupervisor: the spawned engine names the router as its parent in its environment (so its
parent-death check covers the fork-to-exec gap), and the engine's recovery line about events it
cannot publish again is repeated in the router's log."""

import logging
import os
import uuid
from pathlib import Path

from udprouter.config import instruments_of, parse_config, resolve_engine_binary
from udprouter.engine_link.engine_supervisor import LOG_NAME, EngineSupervisor
from udprouter.order_entry import OrderEntry
from udprouter.risk import Risk

LOST_LINE = ("udprouter-engine: no snapshot kept at or below 40: events of commands 41..90 cannot be "
             "published again")


def make_supervisor(journal: Path) -> EngineSupervisor:
    config = parse_config(f"[journal]\ndir = '{journal}'\ndurability = 'os'\n"
                          f"[engine]\nshm_name = 'udprouter-unit-{uuid.uuid4().hex[:12]}'\n")
    oe = OrderEntry(Risk(instruments_of(config), 100, 1000))
    return EngineSupervisor(config, resolve_engine_binary(config), oe)


async def test_spawned_engine_names_the_router_as_its_parent_in_its_environment(tmp_path):
    supervisor = make_supervisor(tmp_path)
    try:
        await supervisor.start()
        environ = Path(f"/proc/{supervisor.proc.pid}/environ").read_bytes().split(b"\0")
        assert f"UDPROUTER_ENGINE_PARENT_PID={os.getpid()}".encode() in environ
    finally:
        await supervisor.stop()
    assert supervisor.proc.returncode == 0


def test_only_this_lifes_lost_events_line_is_repeated_in_the_router_log(tmp_path, caplog):
    supervisor = make_supervisor(tmp_path)
    earlier = f"{LOST_LINE.replace('41..90', '1..9')}\n".encode()
    (tmp_path / LOG_NAME).write_bytes(earlier + b"udprouter-engine: cutting the journal tail: torn\n"
                                      + LOST_LINE.encode() + b"\n")
    with caplog.at_level(logging.WARNING, logger="udprouter"):
        supervisor._surface_lost_events(len(earlier))
    assert [r.fields["line"] for r in caplog.records] == [LOST_LINE]
