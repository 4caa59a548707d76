"""Property tests: valid messages round-trip; random and mutated bytes never raise out of the decoder."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tools.gen.schema import PRIMITIVES, load_schemas
from tools.gen.vectors import VECTORS_DIR
from udprouter import codec
from udprouter._generated import messages as m
from udprouter.codec import FATAL_CODES, DecodeError

MESSAGE_DEFS = [md for s in load_schemas() for md in s.messages]
APP_DEFS = [md for md in MESSAGE_DEFS if md.package == "udprouter"]
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEEDS = [(VECTORS_DIR / p.name).read_bytes() for p in sorted(VECTORS_DIR.glob("*.bin"))]


def int_range(primitive: str) -> st.SearchStrategy[int]:
    size = PRIMITIVES[primitive][1] * 8
    if primitive.startswith("u"):
        return st.integers(0, 2**size - 1)
    return st.integers(-(2 ** (size - 1)), 2 ** (size - 1) - 1)


def field_strategy(f) -> st.SearchStrategy:
    if f.enum is not None:
        return st.sampled_from(list(getattr(m, f.enum.name)))
    if f.is_bytes:
        return st.binary(min_size=f.length, max_size=f.length)
    values = int_range(f.primitive)
    if f.optional:  # the null value itself is how None travels, so it is not a value
        return st.none() | values.filter(lambda v, null=f.null_value: v != null)
    return values


def message_strategy(md) -> st.SearchStrategy:
    parts = [field_strategy(f) for f in md.fields]
    parts += [st.text(max_size=60) if v.is_string else st.binary(max_size=60) for v in md.var_data]
    return st.tuples(*parts).map(lambda values, cls=m.BY_NAME[md.name]: cls(*values))


any_message = st.one_of([message_strategy(md) for md in MESSAGE_DEFS])
app_message = st.one_of([message_strategy(md) for md in APP_DEFS])


def assert_well_formed_result(entries) -> None:
    assert entries, "decode_datagram returned nothing"
    assert len(entries) <= codec.MAX_MESSAGES_PER_DATAGRAM + 1
    for i, entry in enumerate(entries):
        assert isinstance(entry, (DecodeError, *m.MESSAGES))
        if isinstance(entry, DecodeError) and entry.code in FATAL_CODES:
            assert i == len(entries) - 1, "a framing error must be the last entry"


@settings(max_examples=600, **SETTINGS)
@given(any_message)
def test_every_valid_message_round_trips(msg):
    assert codec.decode_frames(codec.encode_message(msg)) == [msg]


@settings(max_examples=300, **SETTINGS)
@given(st.integers(0, 2**64 - 1), st.lists(app_message, min_size=1, max_size=20))
def test_sequenced_datagram_round_trips(next_seq_no, msgs):
    payload = codec.encode_sequenced_datagram(next_seq_no, msgs)
    assert codec.decode_datagram(payload) == [m.Sequence(next_seq_no), *msgs]


@settings(max_examples=2500, **SETTINGS)
@given(st.binary(max_size=1600))
def test_random_bytes_never_raise(payload):
    assert_well_formed_result(codec.decode_datagram(payload))


@settings(max_examples=2500, **SETTINGS)
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=6),
       st.integers(0, 2000), st.booleans())
def test_mutated_valid_frames_never_raise(seed, flips, cut, prefix_sequence):
    data = bytearray(codec.encode_message(m.Sequence(3)) + seed if prefix_sequence else seed)
    for position, value in flips:
        data[position % len(data)] = value
    entries = codec.decode_datagram(bytes(data[:max(1, cut % (len(data) + 1))]))
    assert_well_formed_result(entries)
