"""The key ring and its command: ``casetrail keys create``, ``rotate`` and ``list``; the
development ring ``infra up`` makes; the decider's signer, which trusts the ring only."""

import json
import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner, Result

from events.suite import Suite
from services.cli.main import app
from services.demo import OFFICERS_FILE
from services.integrity import algorithms
from services.integrity.algorithms import SIGNATURE_ALGORITHM, SM2PrivateKey
from services.integrity.checkpoints import Signer, SigningKeyNotTrusted
from services.integrity.keyring import (
    KeyPurpose,
    KeyRingError,
    ensure_dev_keys,
    key_id,
    load_private_key,
    load_ring,
    new_key,
    write_private_key,
)
from services.integrity.signing import NoGatewayKey, ensure_dev_signing_keys, gateway_signer
from services.settings import Settings
from tests.signing import SUITE, new_private_key

KEYS = Path("keys") if SUITE is Suite.INTERNATIONAL else Path("keys", "guomi")
CHECKPOINT_PEM = f"checkpoint-{SIGNATURE_ALGORITHM[SUITE].value}.pem"
GATEWAY_PEM = f"gateway-{SIGNATURE_ALGORITHM[SUITE].value}.pem"
"""Where the key files are by default, in the state directory, under the tests' suite."""


def keys(state: Path, *args: str, suite: str = SUITE.value, ring: str | None = None) -> Result:
    env = {"CASETRAIL_STATE_DIR": str(state), "CASETRAIL_CRYPTO_SUITE": suite}
    if ring is not None:  # one ring for both suites
        env["CASETRAIL_KEY_RING_FILE"] = ring
    return CliRunner().invoke(app, ["keys", *args], env=env)


def test_create_a_checkpoint_key_for_the_decider(tmp_path: Path) -> None:
    result = keys(tmp_path, "create", "--note", "the decider")
    assert result.exit_code == 0, result.output
    private = tmp_path / KEYS / CHECKPOINT_PEM  # CASETRAIL_SIGNING_KEY_FILE's default
    assert os.stat(private).st_mode & 0o777 == 0o600
    (key,) = load_ring(tmp_path / KEYS / "ring.json").keys
    assert key.key_id == key_id(load_private_key(private).public_key())
    assert (key.purpose, key.department, key.valid_until, key.note) == (
        "checkpoint",
        None,
        None,
        "the decider",
    )
    assert f"checkpoint key {key.key_id}" in result.output
    # A second create would overwrite the private key: refused.
    again = keys(tmp_path, "create")
    assert again.exit_code == 1
    assert "'casetrail keys rotate' replaces a key" in again.output


def test_create_department_and_gateway_keys(tmp_path: Path) -> None:
    out = tmp_path / "信访办.pem"
    result = keys(
        tmp_path, "create", "--purpose", "department", "--department", "信访办", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    assert keys(tmp_path, "create", "--purpose", "gateway").exit_code == 0
    ring = load_ring(tmp_path / KEYS / "ring.json")
    department, gateway = ring.keys
    assert (department.purpose, department.department) == (KeyPurpose.DEPARTMENT, "信访办")
    assert department.key_id == key_id(load_private_key(out).public_key())
    assert ring.get(department.key_id, KeyPurpose.DEPARTMENT) == department
    assert ring.get(department.key_id, KeyPurpose.CHECKPOINT) is None
    assert (tmp_path / KEYS / GATEWAY_PEM).exists()  # where the gateway reads it
    assert gateway.purpose is KeyPurpose.GATEWAY

    for wrong in (["--purpose", "department"], ["--purpose", "gateway", "--department", "x"]):
        refused = keys(tmp_path, "create", *wrong, "--out", str(tmp_path / "x.pem"))
        assert refused.exit_code == 2, refused.output
        assert "--department goes with --purpose department" in refused.output


def test_rotate_retires_the_current_key_and_replaces_the_private_key(tmp_path: Path) -> None:
    assert keys(tmp_path, "rotate").exit_code == 2  # no ring yet
    assert keys(tmp_path, "create").exit_code == 0
    private = tmp_path / KEYS / CHECKPOINT_PEM
    before = private.read_bytes()
    result = keys(tmp_path, "rotate")
    assert result.exit_code == 0, result.output
    assert private.read_bytes() != before
    old, new = load_ring(tmp_path / KEYS / "ring.json").keys
    assert old.valid_until == new.valid_from
    assert new.valid_until is None
    assert new.key_id == key_id(load_private_key(private).public_key())
    now = datetime.now(UTC)
    assert not old.valid_at(now)
    assert new.valid_at(now)
    assert f"key {old.key_id}: valid until" in result.output

    # Rotating a department's key leaves the others alone.
    assert (
        keys(tmp_path, "create", "--purpose", "department", "--department", "信访办").exit_code == 0
    )
    assert (
        keys(tmp_path, "rotate", "--purpose", "department", "--department", "信访办").exit_code == 0
    )
    ring = load_ring(tmp_path / KEYS / "ring.json")
    current = ring.current(KeyPurpose.CHECKPOINT, suite=SUITE)
    assert [k.key_id for k in current] == [new.key_id]
    assert len(ring.current(KeyPurpose.DEPARTMENT, "信访办", suite=SUITE)) == 1
    none_to_rotate = keys(tmp_path, "rotate", "--purpose", "gateway")
    assert none_to_rotate.exit_code == 1
    assert "no key of that purpose valid now" in none_to_rotate.output


def test_list_shows_the_ring(tmp_path: Path) -> None:
    assert keys(tmp_path, "list").exit_code == 2  # no ring: says so
    assert keys(tmp_path, "create").exit_code == 0
    assert keys(tmp_path, "rotate").exit_code == 0
    assert (
        keys(tmp_path, "create", "--purpose", "department", "--department", "信访办").exit_code == 0
    )
    listed = keys(tmp_path, "list")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0] == f"key ring {tmp_path / KEYS / 'ring.json'} (suite {SUITE.value}):"
    assert [line.split()[1:4] for line in lines[1:]] == [
        [SIGNATURE_ALGORITHM[SUITE].value, "checkpoint", "-"],
        [SIGNATURE_ALGORITHM[SUITE].value, "checkpoint", "-"],
        [SIGNATURE_ALGORITHM[SUITE].value, "department", "信访办"],
    ]
    assert ["retired" in lines[1], "valid" in lines[2]] == [True, True]
    document = json.loads(keys(tmp_path, "list", "--json").output)
    assert [(k["purpose"], k["department"], k["state"]) for k in document["keys"]] == [
        ("checkpoint", None, "retired"),
        ("checkpoint", None, "valid"),
        ("department", "信访办", "valid"),
    ]
    assert "private" not in json.dumps(document)


def test_keys_of_the_guomi_suite_are_sm2_in_a_ring_of_their_own(tmp_path: Path) -> None:
    assert keys(tmp_path, "create", suite="guomi").exit_code == 0
    assert keys(tmp_path, "create", "--purpose", "gateway", suite="guomi").exit_code == 0
    private = tmp_path / "keys" / "guomi" / "checkpoint-sm2.pem"
    assert os.stat(private).st_mode & 0o777 == 0o600
    ring = load_ring(tmp_path / "keys" / "guomi" / "ring.json")
    assert [(k.purpose.value, k.algorithm.value) for k in ring.keys] == [
        ("checkpoint", "sm2"),
        ("gateway", "sm2"),
    ]
    assert ring.keys[0].key_id == key_id(load_private_key(private).public_key())
    assert not (tmp_path / "keys" / "ring.json").exists()  # the international ring untouched
    listed = keys(tmp_path, "list", "--json", suite="guomi")
    assert [k["algorithm"] for k in json.loads(listed.output)["keys"]] == ["sm2", "sm2"]
    signer = Signer(private, tmp_path / "keys" / "guomi" / "ring.json", Suite.GUOMI)
    assert signer.sign(0, 1, 1, "ab" * 32, datetime.now(UTC)).suite is Suite.GUOMI


def test_the_development_keys_are_made_once(tmp_path: Path) -> None:
    ring, private = (
        tmp_path / KEYS / "ring.json",
        tmp_path / KEYS / CHECKPOINT_PEM,
    )
    said = ensure_dev_keys(ring, private, suite=SUITE)
    assert said is not None
    assert said.startswith("created a development checkpoint key")
    assert ensure_dev_keys(ring, private, suite=SUITE) is None
    (key,) = load_ring(ring).keys
    assert key.key_id == key_id(load_private_key(private).public_key())


def test_a_development_key_from_before_the_ring_is_registered_since_it_was_written(
    tmp_path: Path,
) -> None:
    ring, private = tmp_path / "ring.json", tmp_path / "checkpoint-ed25519.pem"
    write_private_key(private, new_private_key())
    written = time.time() - 3600
    os.utime(private, (written, written))
    said = ensure_dev_keys(ring, private, suite=SUITE)
    assert said is not None
    assert "registered the development checkpoint key" in said
    (key,) = load_ring(ring).keys
    assert key.valid_from == datetime.fromtimestamp(written, UTC)  # its old checkpoints count


def test_an_operators_ring_is_left_alone(tmp_path: Path) -> None:
    ring, private = tmp_path / "ring.json", tmp_path / "checkpoint-ed25519.pem"
    new_key(ring, tmp_path / "other.pem", KeyPurpose.CHECKPOINT, suite=SUITE)
    write_private_key(private, new_private_key())
    assert ensure_dev_keys(ring, private, suite=SUITE) is None
    assert len(load_ring(ring).keys) == 1


# --- the decider's signer -----------------------------------------------------------------------


def test_the_signer_signs_only_with_a_checkpoint_key_of_the_ring(tmp_path: Path) -> None:
    ring, private = tmp_path / "ring.json", tmp_path / "checkpoint.pem"
    with pytest.raises(SigningKeyNotTrusted, match="no key ring at"):
        Signer(private, ring, suite=SUITE).check(datetime.now(UTC))
    new_key(ring, tmp_path / "department.pem", KeyPurpose.DEPARTMENT, "信访办", suite=SUITE)
    write_private_key(private, new_private_key())
    signer = Signer(private, ring, suite=SUITE)
    with pytest.raises(SigningKeyNotTrusted, match="is not a checkpoint key of the ring"):
        signer.check(datetime.now(UTC))

    first = new_key(
        ring, private, KeyPurpose.CHECKPOINT, suite=SUITE
    )  # the signer reads both files again
    assert signer.key_id == first.key_id
    checkpoint = signer.sign(0, 10, 6, "0" * 64, datetime.now(UTC))
    assert checkpoint.key_id == first.key_id

    second = new_key(ring, private, KeyPurpose.CHECKPOINT, retire_current=True, suite=SUITE)
    assert signer.key_id == second.key_id  # rotated while it runs: the new key from now on
    assert signer.sign(0, 12, 7, "0" * 64, datetime.now(UTC)).key_id == second.key_id


def test_the_signer_stops_at_its_keys_retirement(tmp_path: Path) -> None:
    ring, private = tmp_path / "ring.json", tmp_path / "checkpoint.pem"
    new_key(ring, private, KeyPurpose.CHECKPOINT, suite=SUITE)
    kept = private.read_bytes()
    signer = Signer(private, ring, suite=SUITE)
    new_key(
        ring, tmp_path / "elsewhere.pem", KeyPurpose.CHECKPOINT, retire_current=True, suite=SUITE
    )
    assert private.read_bytes() == kept  # the old key still in its file, retired in the ring
    with pytest.raises(SigningKeyNotTrusted, match="rotated"):
        signer.check(datetime.now(UTC))


def test_the_decider_does_not_start_with_a_key_outside_the_ring(tmp_path: Path) -> None:
    env = {"CASETRAIL_STATE_DIR": str(tmp_path), "CASETRAIL_OFFICERS_FILE": str(OFFICERS_FILE)}
    result = CliRunner().invoke(app, ["decider"], env=env)
    assert result.exit_code == 2
    assert "the decider does not start: no key ring at" in result.output

    new_key(
        tmp_path / KEYS / "ring.json", tmp_path / "other.pem", KeyPurpose.CHECKPOINT, suite=SUITE
    )
    write_private_key(tmp_path / KEYS / CHECKPOINT_PEM, new_private_key())
    result = CliRunner().invoke(app, ["decider"], env=env)
    assert result.exit_code == 2
    assert "is not a checkpoint key of the ring" in result.output


def test_rotating_under_one_suite_leaves_the_other_suites_keys_in_a_shared_ring(
    tmp_path: Path,
) -> None:
    shared = str(tmp_path / "ring.json")
    for suite in ("international", "guomi"):
        assert keys(tmp_path, "create", suite=suite, ring=shared).exit_code == 0
    result = keys(tmp_path, "rotate", suite="guomi", ring=shared)
    assert result.exit_code == 0, result.output
    now = datetime.now(UTC)
    ring = load_ring(Path(shared))
    assert [(k.algorithm.value, k.valid_at(now)) for k in ring.keys] == [
        ("ed25519", True),
        ("sm2", False),
        ("sm2", True),
    ]
    assert result.output.count("valid until") == 1
    for suite in Suite:
        assert len(ring.current(KeyPurpose.CHECKPOINT, suite=suite)) == 1


def _settings(tmp_path: Path, suite: Suite, gateway_key: Path) -> Settings:
    return Settings(state_dir=tmp_path, crypto_suite=suite, gateway_signing_key_file=gateway_key)


def test_the_gateway_does_not_start_with_a_key_of_another_suite(tmp_path: Path) -> None:
    ed25519 = tmp_path / "gateway.pem"
    write_private_key(ed25519, Ed25519PrivateKey.generate())
    signer = gateway_signer(_settings(tmp_path, Suite.INTERNATIONAL, ed25519))
    assert signer is not None
    with pytest.raises(NoGatewayKey) as refused:
        gateway_signer(_settings(tmp_path, Suite.GUOMI, ed25519))
    assert f"the gateway's key {signer.key_id} ({ed25519}) is an ed25519 key, and the log's" in (
        str(refused.value)
    )
    assert "suite guomi signs with sm2" in str(refused.value)
    sm2 = tmp_path / "gateway-sm2.pem"
    write_private_key(sm2, SM2PrivateKey.generate())
    assert gateway_signer(_settings(tmp_path, Suite.GUOMI, sm2)) is not None
    with pytest.raises(NoGatewayKey, match="is an sm2 key, and the log's suite international"):
        gateway_signer(_settings(tmp_path, Suite.INTERNATIONAL, sm2))


def test_without_tongsuopy_an_sm2_key_is_refused_cleanly_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tongsuopy has no wheel everywhere (pyproject.toml): an international service whose ring
    holds one SM2 key, or given an SM2 key file, says so as it does for any bad ring or key."""
    ring_path = tmp_path / "ring.json"
    new_key(ring_path, tmp_path / "ed.pem", KeyPurpose.CHECKPOINT, suite=Suite.INTERNATIONAL)
    new_key(ring_path, tmp_path / "sm2.pem", KeyPurpose.GATEWAY, suite=Suite.GUOMI)
    algorithms._tongsuo.cache_clear()
    monkeypatch.setattr(algorithms, "sm_ec", None)  # as where the import failed
    try:
        with pytest.raises(
            KeyRingError, match=re.escape(f"{ring_path} is not a valid key ring: SM2 needs")
        ):
            load_ring(ring_path)
        with pytest.raises(NoGatewayKey, match=r"cannot read .*sm2\.pem: SM2 needs the tongsuopy"):
            gateway_signer(_settings(tmp_path, Suite.INTERNATIONAL, tmp_path / "sm2.pem"))
        signer = Signer(tmp_path / "sm2.pem", ring_path, Suite.INTERNATIONAL)
        with pytest.raises(SigningKeyNotTrusted, match="is not a valid key ring: SM2 needs"):
            signer.check(datetime.now(UTC))
    finally:
        algorithms._tongsuo.cache_clear()  # tongsuopy again for the tests that follow


def test_the_development_keys_of_each_suite_go_into_a_shared_ring(tmp_path: Path) -> None:
    shared = tmp_path / "ring.json"
    said: list[str] = []
    for suite in Suite:
        settings = Settings(state_dir=tmp_path, crypto_suite=suite, key_ring_file=shared)
        if suite is Suite.GUOMI:  # a key file from before the shared ring
            write_private_key(settings.gateway_signing_key_path, SM2PrivateKey.generate())
        ensure_dev_signing_keys(settings, said.append)
    assert [k.algorithm.value for k in load_ring(shared).keys] == ["ed25519", "sm2"]
    assert said[1].startswith("signing: put the development gateway key")
