"""`udprouter admin ...`: the Admin API (udprouter.admin.v1.Admin) from the command line.

    udprouter admin [--target HOST:PORT] [--admin-key ID:SECRET] [--tls-ca FILE] ACTION
      kill-switch on|off (--account N | --trading-key KEY_ID)
      mass-cancel --account N [--security-id N] [--side buy|sell]
      limits get --account N
      limits set --account N [--max-order-notional N] [--max-open-notional N] [--max-position N]
                             [--max-orders-per-s N] [--smp none|cancel_resting|cancel_aggressing|cancel_both]
      sessions
      disconnect SESSION_ID

The admin key comes from --admin-key or $UDPROUTER_ADMIN_KEY (key_id:secret). Prints the answer as
one JSON object; exits 1 with one line naming the gRPC status when the call fails, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

ADMIN_KEY_ENV = "UDPROUTER_ADMIN_KEY"
CALL_TIMEOUT_S = 15.0
SMP_MODES = ("none", "cancel_resting", "cancel_aggressing", "cancel_both")
LIMITS = ("max_order_notional", "max_open_notional", "max_position", "max_orders_per_s")


def add_parser(sub) -> None:
    admin = sub.add_parser("admin", help="operator controls: kill switch, mass cancel, limits, sessions")
    admin.add_argument("--target", default="127.0.0.1:50051", help="router gRPC HOST:PORT")
    admin.add_argument("--admin-key", help=f"ID:SECRET of an [[admin_keys]] entry (default ${ADMIN_KEY_ENV})")
    admin.add_argument("--tls-ca", help="PEM CA bundle: connect with TLS (required off loopback)")
    actions = admin.add_subparsers(dest="action", required=True)
    kill = actions.add_parser("kill-switch", help="block an account and cancel its orders, or release it")
    kill.add_argument("state", choices=("on", "off"))
    who = kill.add_mutually_exclusive_group(required=True)
    who.add_argument("--account", type=int)
    who.add_argument("--trading-key", help="act on the account of this trading key")
    mass = actions.add_parser("mass-cancel", help="cancel an account's resting orders")
    mass.add_argument("--account", type=int, required=True)
    mass.add_argument("--security-id", type=int, default=0)
    mass.add_argument("--side", choices=("buy", "sell"))
    limits = actions.add_parser("limits", help="read or change an account's limits")
    limits.add_argument("op", choices=("get", "set"))
    limits.add_argument("--account", type=int, required=True)
    for name in LIMITS:
        limits.add_argument("--" + name.replace("_", "-"), type=int, dest=name)
    limits.add_argument("--smp", choices=SMP_MODES)
    actions.add_parser("sessions", help="list the router's sessions")
    disconnect = actions.add_parser("disconnect", help="terminate a session")
    disconnect.add_argument("session_id", type=int)


def run(args: argparse.Namespace) -> int:
    import grpc
    from google.protobuf.json_format import MessageToDict

    from fallback_grpc._generated.admin.v1 import admin_pb2 as pb
    from fallback_grpc._generated.admin.v1 import admin_pb2_grpc as pb_grpc

    key = args.admin_key or os.environ.get(ADMIN_KEY_ENV, "")
    if ":" not in key:
        print(f"udprouter admin: --admin-key ID:SECRET (or ${ADMIN_KEY_ENV}) is required", file=sys.stderr)
        return 2
    method, request = _request(args, pb)
    if args.tls_ca:
        with open(args.tls_ca, "rb") as ca:
            channel = grpc.secure_channel(args.target, grpc.ssl_channel_credentials(ca.read()))
    else:
        channel = grpc.insecure_channel(args.target)
    with channel:
        try:
            reply = getattr(pb_grpc.AdminStub(channel), method)(
                request, metadata=(("authorization", f"Bearer {key}"),), timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as exc:
            print(f"udprouter admin: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    print(json.dumps(MessageToDict(reply, preserving_proto_field_name=True,
                                   always_print_fields_with_no_presence=True), sort_keys=True))
    return 0


def _request(args, pb):
    action = args.action
    if action == "kill-switch":
        request = pb.SetKillSwitchRequest(account=args.account or 0, key_id=args.trading_key or "",
                                          enabled=args.state == "on")
        return "SetKillSwitch", request
    if action == "mass-cancel":
        side = {"buy": pb.SIDE_BUY, "sell": pb.SIDE_SELL}.get(args.side, pb.SIDE_UNSPECIFIED)
        return "MassCancel", pb.MassCancelRequest(account=args.account, security_id=args.security_id,
                                                  side=side)
    if action == "limits" and args.op == "get":
        return "GetRiskLimits", pb.GetRiskLimitsRequest(account=args.account)
    if action == "limits":
        given = {name: getattr(args, name) for name in LIMITS if getattr(args, name) is not None}
        limits = pb.RiskLimits(**given)
        if args.smp:
            limits.self_match_prevention = pb.SelfMatchPreventionMode.Value(
                "SELF_MATCH_PREVENTION_MODE_" + args.smp.upper())
        return "SetRiskLimits", pb.SetRiskLimitsRequest(account=args.account, limits=limits)
    if action == "sessions":
        return "ListSessions", pb.ListSessionsRequest()
    return "DisconnectSession", pb.DisconnectSessionRequest(session_id=args.session_id)
