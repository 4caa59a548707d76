"""The committed Admin API stubs are what tools/gen/proto_stubs.py makes of admin.proto, and the
proto keeps the house rules (versioned package, *_UNSPECIFIED zeros, <Method>Request/Response)."""

from fallback_grpc._generated.admin.v1 import admin_pb2
from tools.gen.proto_stubs import STUBS


def test_committed_admin_stubs_match_the_proto():
    stubs = STUBS["admin"]
    assert stubs.stale(stubs.render()) == []


def test_service_is_udprouter_admin_v1_admin_with_request_and_response_per_method():
    service = admin_pb2.DESCRIPTOR.services_by_name["Admin"]
    assert service.full_name == "udprouter.admin.v1.Admin"
    for method in service.methods:
        assert method.input_type.name == f"{method.name}Request"
        assert method.output_type.name == f"{method.name}Response"


def test_every_enum_starts_at_zero_unspecified():
    for enum in admin_pb2.DESCRIPTOR.enum_types_by_name.values():
        assert enum.values[0].number == 0 and enum.values[0].name.endswith("_UNSPECIFIED"), enum.name
