"""bench/order_timeline.py follows orders through `perf script` lines (crafted lines, no perf run)."""

from bench.order_timeline import STEPS, follow_orders, parse_calls, report

ROLES = {100: "loadgen", 200: "server", 300: "engine"}


def line(comm: str, pid: int, us: float, edge: str, call: str, rest: str) -> str:
    """One line as `perf script -F comm,pid,tid,time,event,trace` prints it (time in seconds)."""
    return f" {comm} {pid}/{pid} {us / 1e6:.6f}: syscalls:sys_{edge}_{call}: {rest}"


def call(comm, pid, enter_us, exit_us, name, result, count=None):
    rest = "fd: 0x00000003" + ("" if count is None else f", buf: 0x1, count: {count:#010x}")
    return [line(comm, pid, enter_us, "enter", name, rest),
            line(comm, pid, exit_us, "exit", name, hex(result))]


def one_order(t: float, read: int = 1) -> list[str]:
    """An order's system calls from t: the router's read takes `read` datagrams."""
    return [
        *call("udprouter-loadg", 100, t, t + 10, "sendmmsg", 1),
        *call("udprouter-loadg", 100, t + 11, t + 12, "recvmmsg", (1 << 64) - 11),  # EAGAIN: not a read
        *call("udprouter", 200, t + 20, t + 30, "recvmmsg", read),
        *call("udprouter", 200, t + 50, t + 54, "write", 37, count=37),  # the write-ahead record
        *call("udprouter", 200, t + 55, t + 56, "write", 8, count=8),  # the engine's wake: left out
        *call("udprouter-engin", 300, t + 60, t + 64, "write", 144, count=144),  # its journal
        *call("udprouter", 200, t + 80, t + 83, "write", 300, count=300),  # the reply record
        *call("udprouter", 200, t + 90, t + 100, "sendmmsg", 1),
        *call("udprouter-loadg", 100, t + 130, t + 135, "recvmmsg", 1),
    ]


def test_an_order_is_followed_step_by_step_and_a_pass_of_two_datagrams_is_not():
    lines = one_order(1_000.0) + one_order(2_000.0, read=2) + one_order(3_000.0)
    followed = follow_orders(parse_calls(lines, ROLES), STEPS["router"])
    expected = [30 - 0, 50 - 30, 54 - 50, 60 - 54, 64 - 60, 80 - 64, 83 - 80, 90 - 83, 100 - 90, 135 - 100]
    assert len(followed) == 2
    for order in followed:
        assert [round(step, 3) for step in order] == expected
    lines = report("router", followed)
    assert lines[-1].split()[-2] == "135.0"  # the total's p50


def test_an_order_whose_steps_do_not_all_come_is_not_followed():
    lines = [entry for entry in one_order(1_000.0) if "udprouter-engin" not in entry]  # no journal write
    assert follow_orders(parse_calls(lines, ROLES), STEPS["router"]) == []


def test_other_processes_and_calls_entered_before_the_recording_are_ignored():
    lines = [line("udprouter", 200, 5.0, "exit", "write", "0x25"),  # its enter was not recorded
             *call("bash", 999, 6.0, 7.0, "write", 3, count=3), *one_order(1_000.0)]
    calls = parse_calls(lines, ROLES)
    assert {c.process for c in calls} == {"loadgen", "server", "engine"}
    assert calls[0].enter_us == 1_000.0
