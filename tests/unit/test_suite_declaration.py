"""The log's suite declaration: which suite a log is of, as the records of its checkpoints topic
say it (only what the pinned ring vouches for counts), and what verify makes of it."""

from datetime import UTC, datetime, timedelta

from events.suite import Suite
from services.integrity.algorithms import Algorithm, PrivateKey, generate, key_id
from services.integrity.checkpoints import sign
from services.integrity.declaration import LogSuite, declare, mismatch, read_declaration
from services.integrity.keyring import KeyPurpose, KeyRing, RingKey
from services.integrity.log_check import untrusted
from services.integrity.problems import ProblemKind, Record
from services.integrity.verification import read_checkpoint, verify
from tests.signing import SINCE

NOW = datetime(2026, 11, 1, tzinfo=UTC)
SM2, ED = generate(Algorithm.SM2), generate(Algorithm.ED25519)


def _ring(*keys: PrivateKey) -> KeyRing:
    return KeyRing(
        tuple(
            RingKey(key_id(k.public_key()), KeyPurpose.CHECKPOINT, k.public_key(), SINCE)
            for k in keys
        )
    )


RING = _ring(SM2, ED)


def _suite(records: list[Record], ring: KeyRing = RING) -> LogSuite:
    found = LogSuite(ring)
    for record in records:
        found.record(*record)
    return found


def test_a_declaration_is_signed_and_told_from_a_checkpoint() -> None:
    declaration = declare(SM2, NOW)
    assert declaration.suite is Suite.GUOMI
    assert read_declaration(declaration.record()) == declaration
    assert read_checkpoint(0, 0, declaration.record()) == declaration
    checkpoint = sign(ED, 0, 0, 1, "ab" * 32, NOW)
    assert read_declaration(checkpoint.record()) is None
    assert read_declaration(b"junk") is None


def test_the_first_trusted_declaration_on_partition_0_fixes_the_suite() -> None:
    found = _suite([(0, 0, declare(SM2, NOW).record()), (0, 1, declare(ED, NOW).record())])
    assert found.suite is Suite.GUOMI
    assert found.how() == "declared at p0@0"
    assert not found.problems
    assert [p.kind for p in found.conflicts(Suite.GUOMI)] == [
        ProblemKind.SUITE_DECLARATION_CONFLICT
    ]
    assert mismatch(found, Suite.GUOMI, "d", "t") is None
    said = mismatch(found, Suite.INTERNATIONAL, "the decider", "t")
    assert said is not None
    assert "is of the suite guomi" in said
    assert "CASETRAIL_CRYPTO_SUITE is international" in said
    assert "set CASETRAIL_CRYPTO_SUITE=guomi" in said
    # A second one of the same suite (two deciders of one suite racing) is no problem.
    assert not _suite(
        [(0, 0, declare(ED, NOW).record()), (0, 5, declare(ED, NOW).record())]
    ).problems


def test_forged_declarations_and_junk_do_not_count() -> None:
    forged = declare(SM2, NOW).model_copy(update={"suite": Suite.INTERNATIONAL})
    unsigned = declare(ED, NOW).model_copy(update={"key_id": "0" * 16, "signature": "AAAA"})
    late = declare(ED, SINCE - timedelta(days=1))  # before its key was valid
    found = _suite(
        [
            (0, 0, b"junk"),
            (0, 1, forged.record()),
            (0, 2, unsigned.record()),
            (0, 3, late.record()),
            (1, 0, declare(ED, NOW).record()),  # on another partition
            (0, 4, declare(SM2, NOW).record()),
        ]
    )
    assert found.suite is Suite.GUOMI
    assert found.how() == "declared at p0@4"
    assert [p.kind for p in found.problems] == [
        ProblemKind.FORGED_CHECKPOINT,
        ProblemKind.UNKNOWN_CHECKPOINT_KEY,
        ProblemKind.CHECKPOINT_KEY_NOT_VALID,
        ProblemKind.UNREADABLE_CHECKPOINT,
    ]


def test_a_stranger_s_declaration_counts_only_until_the_ring_vouches_for_a_checkpoint() -> None:
    """A decider of the other suite, with a ring of its own: its declaration, first on an empty
    log, is the log's to everyone; a log whose checkpoints the ring vouches for ignores it."""
    stranger = declare(generate(Algorithm.ED25519), NOW)
    found = _suite([(0, 0, stranger.record()), (0, 1, declare(SM2, NOW).record())])
    assert found.suite is Suite.INTERNATIONAL
    assert f"with the key {stranger.key_id}, which this key ring lacks" in found.how()
    assert [p.kind for p in found.problems] == [ProblemKind.UNKNOWN_CHECKPOINT_KEY]
    guomi = sign(SM2, 1, 0, 1, "ef" * 32, NOW)
    vouched = _suite([(0, 0, stranger.record()), (1, 0, guomi.record())])
    assert vouched.suite is Suite.GUOMI
    assert vouched.declared is None


def test_without_a_declaration_the_trusted_checkpoints_say_the_suite() -> None:
    assert _suite([]).suite is None  # an empty log: nothing fixed yet
    legacy = sign(ED, 0, 0, 1, "ab" * 32, NOW)  # no suite field: international
    # An unsigned suite-less checkpoint (a forgery) and junk say nothing.
    unsigned = sign(ED, 1, 0, 1, "cd" * 32, NOW).model_copy(update={"signature": "AAAA"})
    guomi = sign(SM2, 2, 0, 1, "ef" * 32, NOW)
    assert _suite([(0, 0, legacy.record()), (1, 0, b"{}")]).suite is Suite.INTERNATIONAL
    assert _suite([(1, 0, unsigned.record()), (2, 0, guomi.record())]).suite is Suite.GUOMI
    both = _suite([(0, 0, legacy.record()), (2, 0, guomi.record())])
    assert both.mixed
    assert both.suite is None
    said = mismatch(both, Suite.GUOMI, "the decider", "t")
    assert said is not None
    assert "both" in said


def test_untrusted_names_a_forgery_before_its_suite() -> None:
    forged = sign(ED, 0, 0, 1, "ab" * 32, NOW).model_copy(update={"signature": "AAAA"})
    problem = untrusted(forged, RING, Suite.GUOMI)
    assert problem is not None
    assert problem.kind is ProblemKind.FORGED_CHECKPOINT
    stranger = sign(generate(Algorithm.ED25519), 0, 0, 1, "ab" * 32, NOW)
    problem = untrusted(stranger, RING, Suite.GUOMI)
    assert problem is not None
    assert problem.kind is ProblemKind.UNKNOWN_CHECKPOINT_KEY
    problem = untrusted(sign(ED, 0, 0, 1, "ab" * 32, NOW), RING, Suite.GUOMI)
    assert problem is not None
    assert problem.kind is ProblemKind.SUITE_MISMATCH


def test_verify_under_the_wrong_suite_says_so_once() -> None:
    declared = [(0, 0, declare(SM2, NOW).record())]
    event = (0, 0, b'{"hash": "00", "case_id": "C-1", "version": 1}')
    result = verify(
        [event], declared, RING, None, {}, now=NOW, grace=timedelta(0), suite=Suite.INTERNATIONAL
    )
    assert [p.kind for p in result.problems] == [ProblemKind.SUITE_MISMATCH]
    assert "set CASETRAIL_CRYPTO_SUITE=guomi" in result.problems[0].detail
    # Under the log's suite the declaration is no unreadable checkpoint.
    result = verify([], declared, RING, None, {}, now=NOW, grace=timedelta(0), suite=Suite.GUOMI)
    assert (result.intact, result.checkpoints) == (True, 0), result.problems
