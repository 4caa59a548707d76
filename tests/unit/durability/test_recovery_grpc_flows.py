"""RouterRecovery.restore_sessions: a key's gRPC flow comes back from the router log with its numbers
and kept reports, but outside the UDP session table (a UDP Negotiate never finds it there); UDP
sessions come back into the table as before."""

from __future__ import annotations

import os

from udprouter.auth import Authenticator
from udprouter.config import parse_config
from udprouter.dispatcher import Dispatcher
from udprouter.durability.router_log import RouterLog, replay
from udprouter.durability.router_recovery import RouterRecovery
from udprouter.durability.session_store import SessionStore, grpc_session_uuid
from udprouter.order_entry import OrderEntry
from udprouter.risk import Risk
from udprouter.server_session import ServerSession
from udprouter.session import SessionLayer


def test_a_logged_grpc_flow_is_handed_to_grpc_and_not_put_in_the_udp_table(tmp_path):
    config = parse_config(f"[journal]\ndir = '{tmp_path}'\ndurability = 'os'\n"
                          "[[keys]]\nkey_id = 'k'\nsecret = 's'\naccount = 1\n")
    key = config.keys[0]
    store = SessionStore(tmp_path)
    udp_uuid, grpc_uuid = os.urandom(16), grpc_session_uuid("k")
    udp_id, grpc_id = store.assign(udp_uuid, "k"), store.assign(grpc_uuid, "k")
    log = RouterLog(tmp_path, "os", 100)
    flows = {}
    for uuid, session_id in ((udp_uuid, udp_id), (grpc_uuid, grpc_id)):
        flow = flows[session_id] = ServerSession(uuid, session_id, key, None, 100)
        log.attach(flow)
    log.open()
    flows[grpc_id].pending += [b"report-1", b"report-2"]
    flows[grpc_id].flush()
    flows[grpc_id].cl_ord_hwm = 12
    log.inbound(flows[grpc_id])
    flows[udp_id].pending.append(b"udp-report")
    flows[udp_id].flush()
    log.commit(0, (0, 0))
    log.close()
    store.close()

    store = SessionStore(tmp_path)
    sessions = SessionLayer(config.session, Authenticator(config.keys, 1), store)
    oe = OrderEntry(Risk({}, 10, 1000))
    recovery = RouterRecovery(config, sessions, oe, Dispatcher(sessions, oe))
    recovery.recovered = replay(tmp_path, 100)
    recovery.restore_sessions()
    try:
        assert list(sessions.by_uuid) == [udp_uuid] and list(recovery.grpc_flows) == ["k"]
        flow = recovery.grpc_flows["k"]
        assert (flow.session_id, flow.uuid, flow.kept_range()) == (grpc_id, grpc_uuid, (1, 3))
        assert flow.kept_frames() == [b"report-1", b"report-2"] and flow.cl_ord_hwm == 12
        assert flow.journal is recovery.log and recovery.log.sessions[grpc_id] is flow  # journaled on
        assert grpc_id not in oe.sinks  # the gRPC side registers its own sink (GrpcSession)
        assert recovery.sessions_restored == 2
    finally:
        recovery.log.close()
        store.close()
