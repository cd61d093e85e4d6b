"""The two cryptographic suites: the guomi algorithms against their standards' own examples,
and each suite's keys, checkpoints, signatures and sealed values refused by the other."""

import base64
import hashlib
import uuid
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from events.hashing import canonical_json, chain_hash, partition_chain
from events.state import Context
from events.submissions import SubmissionBase, parse_submission
from events.suite import Suite
from services.decider.officers import load_officers
from services.demo import OFFICERS_FILE
from services.demo.run import DEFAULT_DSN, DEFAULT_PREFIX, log_of_its_suite, verify_command
from services.integrity.algorithms import (
    Algorithm,
    SM2PrivateKey,
    SM2PublicKey,
    generate,
    key_id,
    raw_public,
)
from services.integrity.checkpoints import Checkpoint, sign, signature_valid
from services.integrity.keyring import KeyPurpose, KeyRing, RingKey
from services.integrity.log_check import untrusted
from services.integrity.problems import ProblemKind
from services.integrity.signing import Signer, SubmissionVerifier
from services.privacy.cipher import (
    SM4_ALG,
    SM4GCM,
    MasterKey,
    SealError,
    new_subject_key,
    open_value,
    seal_value,
)
from services.privacy.sealing import Sealer, open_payload
from services.settings import Settings
from tests.signing import SINCE

NOW = datetime(2021, 4, 8, 1, tzinfo=UTC)

# --- SM3 (GB/T 32905-2016, Annex A) -------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "digest"),
    [
        (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
        (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
    ],
)
def test_sm3_gives_the_standard_s_examples(message: bytes, digest: str) -> None:
    assert Suite.GUOMI.hexdigest(message) == digest
    assert Suite.INTERNATIONAL.hexdigest(message) == hashlib.sha256(message).hexdigest()


def test_the_chains_hash_with_the_suite_s_hash() -> None:
    fields = {"case_id": "XF-1", "version": 1, "hash": "ignored"}
    body = canonical_json({"case_id": "XF-1", "version": 1})
    assert chain_hash(fields, Suite.GUOMI) == hashlib.new("sm3", body).hexdigest()
    assert chain_hash(fields, Suite.INTERNATIONAL) == hashlib.sha256(body).hexdigest()
    head, event = "0" * 64, "ab" * 32
    expected = hashlib.new("sm3", (head + event).encode()).hexdigest()
    assert partition_chain(head, event, Suite.GUOMI) == expected
    assert partition_chain(head, event, Suite.GUOMI) != partition_chain(
        head, event, Suite.INTERNATIONAL
    )


# --- SM2 with SM3 (GB/T 32918, user id of GB/T 35276) -------------------------------------

# The recommended curve (GB/T 32918.5).
P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = P - 3
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
G = (
    0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
    0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0,
)
DEFAULT_ID = b"1234567812345678"
# The signature example with the recommended curve (as in GM/T 0003.5 and GmSSL's tests):
# private key d, message "message digest", the default user id, r and s.
EXAMPLE_D = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
EXAMPLE_R = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
EXAMPLE_S = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA

Point = tuple[int, int] | None


def _add(p: Point, q: Point) -> Point:
    if p is None or q is None:
        return p or q
    if p[0] == q[0] and (p[1] + q[1]) % P == 0:
        return None
    if p == q:
        slope = (3 * p[0] * p[0] + A) * pow(2 * p[1], -1, P) % P
    else:
        slope = (q[1] - p[1]) * pow(q[0] - p[0], -1, P) % P
    x = (slope * slope - p[0] - q[0]) % P
    return (x, (slope * (p[0] - x) - p[1]) % P)


def _times(k: int, point: Point) -> Point:
    result: Point = None
    while k:
        if k & 1:
            result = _add(result, point)
        point, k = _add(point, point), k >> 1
    return result


def _reference_verify(public: tuple[int, int], message: bytes, r: int, s: int) -> bool:
    """SM2 verification written out from GB/T 32918.2 (slow, independent of Tongsuo)."""

    def sm3(data: bytes) -> bytes:
        return hashlib.new("sm3", data).digest()

    numbers = (A, B, *G, *public)
    z = sm3(
        (8 * len(DEFAULT_ID)).to_bytes(2, "big")
        + DEFAULT_ID
        + b"".join(v.to_bytes(32, "big") for v in numbers)
    )
    e = int.from_bytes(sm3(z + message), "big")
    point = _add(_times(s, G), _times((r + s) % N, public))
    return point is not None and (e + point[0]) % N == r


def _point(public: SM2PublicKey) -> tuple[int, int]:
    raw = raw_public(public)
    return int.from_bytes(raw[1:33], "big"), int.from_bytes(raw[33:], "big")


def test_the_standard_sm2_example_verifies_with_tongsuo_and_the_reference() -> None:
    public = SM2PrivateKey.from_private_value(EXAMPLE_D).public_key()
    assert _reference_verify(_point(public), b"message digest", EXAMPLE_R, EXAMPLE_S)
    public.verify(encode_dss_signature(EXAMPLE_R, EXAMPLE_S), b"message digest")


def test_sm2_signatures_use_sm3_and_the_default_user_id() -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    key = SM2PrivateKey.generate()
    signature = key.sign(b"casetrail")
    r, s = decode_dss_signature(signature)
    assert _reference_verify(_point(key.public_key()), b"casetrail", r, s)
    assert not _reference_verify(_point(key.public_key()), b"casetrail!", r, s)
    with pytest.raises(InvalidSignature):
        key.public_key().verify(signature, b"casetrail!")
    with pytest.raises(InvalidSignature):
        key.public_key().verify(b"\x30\x02junk", b"casetrail")


def test_an_sm2_key_s_id_is_its_sm3() -> None:
    public = SM2PrivateKey.from_private_value(EXAMPLE_D).public_key()
    assert key_id(public) == hashlib.new("sm3", raw_public(public)).hexdigest()[:16]
    assert len(raw_public(public)) == 65


# --- SM4 (GB/T 32907-2016) and SM4-GCM (RFC 8998) -----------------------------------------


def test_sm4_gives_the_standard_s_example() -> None:
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    assert (encryptor.update(key) + encryptor.finalize()).hex() == (
        "681edf34d206965e86b3e94f536e4246"
    )


def test_sm4_gcm_gives_rfc_8998_s_example() -> None:
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    nonce = bytes.fromhex("00001234567800000000ABCD")
    aad = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
    plain = bytes.fromhex("".join(c * 16 for c in "ABCDEFEA"))
    sealed = SM4GCM(key).encrypt(nonce, plain, aad)
    assert sealed.hex().upper() == (
        "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
        "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
        "83DE3541E4C2B58177E065A9BF7B62EC"
    )
    assert SM4GCM(key).decrypt(nonce, sealed, aad) == plain


def test_sealed_values_of_the_guomi_suite_open_only_as_sealed() -> None:
    key = new_subject_key(SM4_ALG)
    assert len(key) == 16
    sealed = seal_value(key, "王五", b"aad", SM4_ALG)
    assert open_value(key, sealed, b"aad", SM4_ALG) == "王五"
    with pytest.raises(SealError):
        open_value(key, sealed, b"elsewhere", SM4_ALG)
    with pytest.raises(SealError):
        open_value(new_subject_key(SM4_ALG), sealed, b"aad", SM4_ALG)


def test_the_master_key_wraps_with_the_suite_s_cipher() -> None:
    secret = b"m" * 32
    guomi, international = (
        MasterKey(secret, Suite.GUOMI),
        MasterKey(secret, Suite.INTERNATIONAL),
    )
    assert guomi.key_id == international.key_id  # one master, named alike
    wrapped = guomi.wrap("subject-1", b"k" * 16)
    assert guomi.unwrap("subject-1", wrapped) == b"k" * 16
    # One key id for both: the failure says which suite wrapped the key.
    with pytest.raises(SealError) as under_international:
        international.unwrap("subject-1", wrapped)
    assert str(under_international.value) == (
        "the key of subject subject-1 does not unwrap under the suite international: this"
        f" master key ({guomi.key_id}) wrapped it under the suite guomi ({Suite.GUOMI.label});"
        " CASETRAIL_CRYPTO_SUITE is international"
    )
    wrapped_before_suites = international.wrap("subject-1", b"k" * 32)
    with pytest.raises(SealError, match=r"under the suite guomi: this master key .* under the"):
        guomi.unwrap("subject-1", wrapped_before_suites)
    with pytest.raises(SealError) as moved:
        guomi.unwrap("subject-2", wrapped)
    assert str(moved.value) == (
        "the key of subject subject-2 does not unwrap under the suite guomi: altered, or"
        " wrapped by another master key"
    )


def test_the_decider_seals_and_hashes_with_the_guomi_suite() -> None:
    from events.decide import decide

    officers = load_officers(OFFICERS_FILE)
    submission = parse_submission(
        {
            "type": "complaint.register",
            "submission_id": str(uuid.uuid4()),
            "case_id": "TS-9",
            "actor": {"officer_id": "DY-XF-01", "role": "officer", "department": "信访办"},
            "occurred_at": "2021-04-06T21:15:00+08:00",
            "payload": {
                "channel": "hotline_12345",
                "subject": "噪音",
                "complainant": {"name": "王五", "phone": "13800000000"},
            },
        }
    )
    assert isinstance(submission, SubmissionBase)
    sealer = Sealer(Suite.GUOMI)
    result = decide(None, submission, Context(NOW, officers, suite=Suite.GUOMI, seal=sealer.seal))
    assert isinstance(result, tuple)
    (event,) = result
    assert event.hash == chain_hash(event.model_dump(mode="json"), Suite.GUOMI)
    name = event.payload["complainant"]["name"]
    assert name["alg"] == SM4_ALG
    keys = {k.subject: k.key for k in sealer.take()}
    opened = open_payload(event.case_id, str(event.event_id), event.payload, keys)
    assert opened["complainant"]["name"] == "王五"


# --- One suite per log: what each refuses of the other ------------------------------------


def _ring(*keys: tuple[object, KeyPurpose]) -> KeyRing:
    entries = []
    for key, purpose in keys:
        public = key.public_key()  # type: ignore[attr-defined]
        department = "信访办" if purpose is KeyPurpose.DEPARTMENT else None
        entries.append(RingKey(key_id(public), purpose, public, SINCE, None, department))
    return KeyRing(tuple(entries))


def test_a_checkpoint_names_its_suite_and_is_trusted_only_under_it() -> None:
    sm2, ed = generate(Algorithm.SM2), generate(Algorithm.ED25519)
    ring = _ring((sm2, KeyPurpose.CHECKPOINT), (ed, KeyPurpose.CHECKPOINT))
    guomi = sign(sm2, 0, 4, 2, "ab" * 32, NOW)
    assert guomi.suite is Suite.GUOMI
    assert b'"suite":"guomi"' in guomi.signed_bytes()
    assert Checkpoint.model_validate_json(guomi.record()) == guomi
    assert signature_valid(guomi, sm2.public_key())
    assert untrusted(guomi, ring, Suite.GUOMI) is None
    problem = untrusted(guomi, ring, Suite.INTERNATIONAL)
    assert problem is not None
    assert problem.kind is ProblemKind.SUITE_MISMATCH
    international = sign(ed, 0, 4, 2, "ab" * 32, NOW)
    assert international.suite is None
    assert b"suite" not in international.record()
    problem = untrusted(international, ring, Suite.GUOMI)
    assert problem is not None
    assert problem.kind is ProblemKind.SUITE_MISMATCH
    # The suite is signed: naming another one breaks the signature.
    relabelled = guomi.model_copy(update={"suite": None})
    assert not signature_valid(relabelled, sm2.public_key())


def test_the_decider_s_signer_refuses_a_key_of_the_other_suite(tmp_path: object) -> None:
    from pathlib import Path

    from services.integrity.checkpoints import Signer as CheckpointSigner
    from services.integrity.checkpoints import SigningKeyNotTrusted
    from services.integrity.keyring import save_ring, write_private_key

    assert isinstance(tmp_path, Path)
    ed = generate(Algorithm.ED25519)
    write_private_key(tmp_path / "key.pem", ed)
    save_ring(tmp_path / "ring.json", _ring((ed, KeyPurpose.CHECKPOINT)))
    signer = CheckpointSigner(tmp_path / "key.pem", tmp_path / "ring.json", Suite.GUOMI)
    with pytest.raises(SigningKeyNotTrusted, match="is an ed25519 key"):
        signer.check(NOW)
    sm2 = generate(Algorithm.SM2)
    write_private_key(tmp_path / "key.pem", sm2)
    save_ring(tmp_path / "ring.json", _ring((sm2, KeyPurpose.CHECKPOINT)))
    assert signer.sign(1, 9, 3, "cd" * 32, NOW).suite is Suite.GUOMI


def test_submissions_are_vouched_for_by_keys_of_the_log_s_suite_only() -> None:
    sm2, ed = generate(Algorithm.SM2), generate(Algorithm.ED25519)
    ring = _ring((sm2, KeyPurpose.DEPARTMENT), (ed, KeyPurpose.DEPARTMENT))
    document = {
        "type": "petition.register",
        "submission_id": str(uuid.uuid4()),
        "case_id": "XF-1",
        "actor": {"officer_id": "DY-XF-01", "role": "officer", "department": "信访办"},
        "occurred_at": "2021-03-02T09:30:00+08:00",
        "payload": {"channel": "visit", "persons": 2, "summary": "噪音"},
    }
    guomi = SubmissionVerifier(ring, suite=Suite.GUOMI)
    for key, vouched in ((sm2, True), (ed, False)):
        raw = canonical_json(Signer.of(key).sign(document, "信访办"))
        submission = parse_submission(raw)
        assert isinstance(submission, SubmissionBase)
        answer = guomi.vouch(raw, submission, NOW)
        if vouched:
            assert answer is not None
            assert not hasattr(answer, "code")
        else:
            assert getattr(answer, "code", None) is not None
            assert "accepts sm2 keys only" in str(getattr(answer, "message", ""))
    sm2_signed = Signer.of(sm2).sign(document, "信访办")
    assert 8 <= len(base64.b64decode(sm2_signed["signature"]["value"])) <= 72


def test_the_demo_says_how_to_verify_its_log_under_its_suite() -> None:
    """A guomi demo runs on topics and a database of its own: 'casetrail verify' alone would
    read the international demo's."""
    defaults = Settings(topic_prefix=DEFAULT_PREFIX, postgres_dsn=DEFAULT_DSN)
    international = defaults.model_copy(update={"crypto_suite": Suite.INTERNATIONAL})
    assert verify_command(log_of_its_suite(international)) == "casetrail verify"
    guomi = verify_command(
        log_of_its_suite(defaults.model_copy(update={"crypto_suite": Suite.GUOMI}))
    )
    assert guomi.startswith("CASETRAIL_CRYPTO_SUITE=guomi CASETRAIL_TOPIC_PREFIX=casetrail-guomi")
    assert guomi.endswith("/casetrail_guomi casetrail verify")
    own = Settings(crypto_suite=Suite.GUOMI, postgres_dsn="postgresql://u:secret@db.example/ct")
    assert "secret" not in verify_command(log_of_its_suite(own))
