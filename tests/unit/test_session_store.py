"""SessionStore: released SessionIds are forgotten across a reopen, ids are never reused, and the
file is rewritten to the remembered lines once the forgotten ones outnumber them."""

from udprouter.session_store import FILE_NAME, SessionStore


def test_released_ids_are_forgotten_never_reused_and_the_file_stays_bounded(tmp_path):
    store = SessionStore(tmp_path)
    uuids = [bytes([i]) * 16 for i in range(200)]
    for i, uuid in enumerate(uuids):
        assert store.assign(uuid, "k") == i + 1
        if i >= 2:
            store.release(uuids[i - 2])  # two live at a time
    assert store.compactions > 0
    assert len((tmp_path / FILE_NAME).read_text().splitlines()) < 150
    store.close()
    reopened = SessionStore(tmp_path)
    assert len(reopened) == 2
    assert reopened.lookup(uuids[-1]) == (200, "k") and reopened.lookup(uuids[0]) is None
    assert reopened.assign(uuids[0], "k") == 201  # a released SessionId seen again: a new id
    reopened.close()
