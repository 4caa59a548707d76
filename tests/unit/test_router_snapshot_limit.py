"""RouterRecovery helpers: the newest engine snapshot decides which events a new engine can re-emit."""

from udprouter.router_recovery import newest_snapshot_seq


def test_newest_snapshot_is_found_by_the_engine_file_name_only(tmp_path):
    assert newest_snapshot_seq(tmp_path) == 0
    names = ("snapshot-00000000000000000042.bin", "snapshot-00000000000000000007.bin",
             "snapshot-00000000000000000099.bin.tmp", "snapshot-77.bin", "journal-00000000000000000100.log")
    for name in names:
        (tmp_path / name).write_bytes(b"")
    assert newest_snapshot_seq(tmp_path) == 42
