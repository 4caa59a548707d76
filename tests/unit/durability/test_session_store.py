"""SessionStore: released SessionIds are forgotten across a reopen; a released id is reused only once
the engine has reset it (pending, then free), lowest first, and its next session numbers on from
one past its previous occupant's last server number; the file is rewritten to the ids in use once
the forgotten lines outnumber them."""

from udprouter.durability.session_store import FILE_NAME, SessionStore


def test_released_ids_are_forgotten_and_reused_only_after_their_reset(tmp_path):
    store = SessionStore(tmp_path)
    uuids = [bytes([i]) * 16 for i in range(200)]
    for i, uuid in enumerate(uuids):
        assert store.assign(uuid, "k") == i + 1  # none reset yet: always a new id
        if i >= 2:
            store.release(uuids[i - 2], next_outbound=10 + i)  # two live at a time
    assert len(store.pending) == 198 and not store.free
    assert len((tmp_path / FILE_NAME).read_text().splitlines()) <= 3 * 200 + 64
    store.close()
    reopened = SessionStore(tmp_path)
    assert len(reopened) == 2 and len(reopened.pending) == 198
    assert reopened.lookup(uuids[-1]) == (200, "k") and reopened.lookup(uuids[0]) is None
    assert reopened.next_id == 201
    reopened.reset_done(5)
    reopened.reset_done(3)
    assert reopened.next_id == 3
    assert reopened.assign(uuids[0], "k") == 3  # a released SessionId seen again: a new session, reset id 3
    assert reopened.first_outbound(3) == 15  # id 3 (uuids[2]) was released at next_outbound 14
    assert reopened.first_outbound(200) == 1
    reopened.close()
    again = SessionStore(tmp_path)
    assert again.lookup(uuids[0]) == (3, "k") and again.first_outbound(3) == 15
    assert again.free == {5: 17} and 3 not in again.pending
    # The same id released again numbers on from where its second session got to.
    again.release(uuids[0], next_outbound=16)
    again.reset_done(3)
    assert again.assign(uuids[1], "k") == 3 and again.first_outbound(3) == 17
    again.close()


def test_the_file_stays_bounded_by_the_ids_while_sessions_come_and_go(tmp_path):
    store = SessionStore(tmp_path)
    for i in range(2000):
        uuid = i.to_bytes(16, "big")
        session_id = store.assign(uuid, "k")
        assert session_id <= 2
        store.release(uuid, next_outbound=3)
        store.reset_done(session_id)
    lines = (tmp_path / FILE_NAME).read_text().splitlines()
    assert len(lines) <= 64 + 8, len(lines)
    store.close()
    reopened = SessionStore(tmp_path)
    assert len(reopened) == 0 and set(reopened.free) == {1}
    assert reopened.first_outbound(1) == 1 and reopened.free[1] > 1000  # numbers only ever rise
    reopened.close()


def test_an_old_forget_line_leaves_its_id_unused(tmp_path):
    (tmp_path / FILE_NAME).write_text(f"1 {'ab' * 16} k\nforget {'ab' * 16}\n")
    store = SessionStore(tmp_path)
    assert store.lookup(bytes.fromhex("ab" * 16)) is None and not store.pending and not store.free
    assert store.assign(b"\x01" * 16, "k") == 2  # its numbering is unknown: never reused
    store.close()
