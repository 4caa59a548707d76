"""100,000 seeded random and mutated datagrams through the wire decoder (tests/fuzz.py holds the
mutator and the properties; `make fuzz` runs millions)."""

from tests.fuzz import DatagramMutator, FuzzStats, check_decode, run
from udprouter.codec import DecodeError, DecodeErrorCode, decode_frames

SEED = 101
COUNT = 100_000


def test_hundred_thousand_mutated_datagrams_decode_to_values_within_bounds():
    stats = run(SEED, COUNT, differential_every=10)
    assert stats.datagrams == COUNT
    assert stats.messages > COUNT  # most mutations leave some frames intact: those must decode
    assert stats.differential > COUNT // 20  # and agree with the construct decoder
    assert stats.fast_accepted > COUNT // 100  # and with the C fast path where it takes them
    # The mutations reach every way a datagram can fail to decode.
    assert set(stats.errors) == {code.name for code in DecodeErrorCode}


def test_mutator_is_deterministic_by_seed():
    a, b, c = DatagramMutator(5), DatagramMutator(5), DatagramMutator(6)
    first = [a.next() for _ in range(500)]
    assert first == [b.next() for _ in range(500)]
    assert first != [c.next() for _ in range(500)]


def test_unmutated_corpus_decodes_without_errors():
    mutator = DatagramMutator(9)
    stats = FuzzStats()
    for payload in mutator.corpus:
        check_decode(payload, stats, differential=True)
        assert not [e for e in decode_frames(payload) if isinstance(e, DecodeError)], payload.hex()
    assert stats.differential == stats.messages > len(mutator.corpus)
