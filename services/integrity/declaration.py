"""The log's suite declaration: a record of the checkpoints topic, signed with the decider's
checkpoint key, that fixes the log's cryptographic suite once (``events.suite``).

Written on partition 0 of the checkpoints topic by ``casetrail infra up``/``infra init`` when
they make the topics, and by a decider that finds none before it serves anything. Partition 0
only: Kafka orders records within a partition, so "the first declaration in offset order wins"
means the same for every reader, and two deciders of different suites starting together on an
empty log both write theirs, read again, and obey the same winner (one serves, one refuses).

A declaration counts if it is signed with a checkpoint key of the pinned ring, valid when it
signed, of the algorithm of the suite it declares. One signed with a key the ring does not
hold, whose signature verifies with the public key it carries (a decider of the other suite,
whose ring is another: the development layout keeps one per suite), counts too, as a claim,
unless the ring vouches for checkpoints on the log: then a stranger's word is no match for them.
Anything else on the topic (junk, forged signatures, checkpoints nobody in the ring signed)
vouches for nothing, and ``casetrail verify`` names it. A log without a declaration is of the
suite of its trusted checkpoints: every log written before declarations existed is
international.

Pure: ``services.integrity.log_suite`` reads and writes the topic.
"""

import base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import Field, ValidationError

from events.hashing import canonical_json
from events.model import Frozen, UtcDatetime
from events.suite import Suite, SuiteUnavailable
from services.integrity.algorithms import (
    SIGNATURE_ALGORITHM,
    PrivateKey,
    algorithm_of,
    public_from_raw,
    raw_public,
    suite_of,
)
from services.integrity.checkpoints import Checkpoint, signature_valid
from services.integrity.keyring import KeyPurpose, KeyRing, key_id
from services.integrity.log_check import key_problem, untrusted
from services.integrity.problems import Problem, ProblemKind

DECLARATION_PARTITION = 0
"""Where the declarations of a log count: one partition, one order."""


class SuiteDeclaration(Frozen):
    declares: Literal["suite"] = Field(
        description="What tells a declaration from a checkpoint on the same topic"
    )
    suite: Suite
    created_at: UtcDatetime
    key_id: str = Field(description="The checkpoint key that signed it")
    public_key: str = Field(
        description="That key's raw public key, base64: what lets a reader whose ring does not"
        " hold it check the signature"
    )
    signature: str = Field(description="Base64 signature of the other fields' canonical JSON")

    def signed_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json", exclude={"signature"}))

    def record(self) -> bytes:
        """The record's value on the checkpoints topic."""
        return self.model_dump_json().encode()

    def self_signed(self) -> bool:
        """Signed with the key it carries, of its suite's algorithm (says nothing of whose)."""
        algorithm = SIGNATURE_ALGORITHM[self.suite]
        try:
            public = public_from_raw(algorithm, base64.b64decode(self.public_key))
        except (ValueError, TypeError, SuiteUnavailable):
            return False
        return key_id(public) == self.key_id and signature_valid(self, public)


def declare(key: PrivateKey, at: datetime) -> SuiteDeclaration:
    """A declaration of the suite whose algorithm ``key`` is, signed with it."""
    public = key.public_key()
    unsigned = SuiteDeclaration(
        declares="suite",
        suite=suite_of(algorithm_of(key)),
        created_at=at,
        key_id=key_id(public),
        public_key=base64.b64encode(raw_public(public)).decode(),
        signature="",
    )
    signature = base64.b64encode(key.sign(unsigned.signed_bytes())).decode()
    return unsigned.model_copy(update={"signature": signature})


def read_declaration(raw: bytes) -> SuiteDeclaration | None:
    """The declaration ``raw`` is; None if it is none (a checkpoint, or junk). Every record of
    the checkpoints topic is asked, and nearly all are checkpoints: those without the key are
    answered before pydantic (which took twice a checkpoint's own parse to refuse one)."""
    if b'"declares"' not in raw:
        return None
    try:
        return SuiteDeclaration.model_validate_json(raw)
    except ValidationError:
        return None


def _where(partition: int, offset: int) -> str:
    return f"suite declaration p{partition}@{offset}"


@dataclass(frozen=True)
class Declared:
    offset: int
    declaration: SuiteDeclaration
    trusted: bool
    """Signed with a key of the pinned ring; else a claim (self-signed, key not in the ring)."""


@dataclass
class LogSuite:
    """Which suite a log is of, fed the records of its checkpoints topic (partition 0 first,
    in offset order): its first declaration that counts (``declared``); without one, that of
    its trusted checkpoints; None for a log with neither (nothing fixes it yet).
    ``problems``: the declarations that the ring does not vouch for, and misplaced ones."""

    ring: KeyRing
    declarations: list[Declared] = field(default_factory=list)
    """Those that may count, in offset order: trusted ones and claims."""
    signed: set[Suite] = field(default_factory=set)
    """The suites of the trusted checkpoints read (each checked under the suite it names)."""
    problems: list[Problem] = field(default_factory=list)

    def record(self, partition: int, offset: int, raw: bytes) -> None:
        declaration = read_declaration(raw)
        if declaration is not None:
            self.declaration(partition, offset, declaration)
            return
        try:
            checkpoint = Checkpoint.model_validate_json(raw)
        except ValidationError:
            return  # junk vouches for nothing; verify names it
        if untrusted(checkpoint, self.ring, checkpoint.log_suite) is None:
            self.signed.add(checkpoint.log_suite)

    def declaration(self, partition: int, offset: int, declaration: SuiteDeclaration) -> None:
        where = _where(partition, offset)
        if partition != DECLARATION_PARTITION:
            self.problems.append(
                Problem(
                    ProblemKind.UNREADABLE_CHECKPOINT,
                    where,
                    f"declarations count on partition {DECLARATION_PARTITION} only: ignored",
                    partition=partition,
                    offset=offset,
                )
            )
            return
        found = key_problem(declaration, self.ring)
        key = self.ring.get(declaration.key_id, KeyPurpose.CHECKPOINT)
        wanted = SIGNATURE_ALGORITHM[declaration.suite]
        if found is None and key is not None and key.algorithm is not wanted:
            found = (
                ProblemKind.SUITE_MISMATCH,
                f"declares {declaration.suite.value}, signed with the {key.algorithm.value} key"
                f" {declaration.key_id}: that suite signs with {wanted.value} only",
            )
        if found is None:
            self.declarations.append(Declared(offset, declaration, trusted=True))
            return
        kind, detail = found
        self.problems.append(Problem(kind, where, detail, partition=partition, offset=offset))
        if kind is ProblemKind.UNKNOWN_CHECKPOINT_KEY and declaration.self_signed():
            self.declarations.append(Declared(offset, declaration, trusted=False))

    @property
    def declared(self) -> Declared | None:
        """The declaration that fixes the suite: the first that counts (a claim counts only
        while the ring vouches for no checkpoint)."""
        for declared in self.declarations:
            if declared.trusted or not self.signed:
                return declared
        return None

    @property
    def settled(self) -> bool:
        """Whether reading on could change nothing: the first declaration is trusted."""
        return bool(self.declarations) and self.declarations[0].trusted

    @property
    def trusted_declaration(self) -> bool:
        return any(d.trusted for d in self.declarations)

    @property
    def suite(self) -> Suite | None:
        declared = self.declared
        if declared is not None:
            return declared.declaration.suite
        return next(iter(self.signed)) if len(self.signed) == 1 else None

    @property
    def mixed(self) -> bool:
        """No declaration, and trusted checkpoints of both suites."""
        return self.declared is None and len(self.signed) > 1

    def conflicts(self, suite: Suite) -> list[Problem]:
        """The trusted declarations of another suite than the log's ``suite``."""
        return [
            Problem(
                ProblemKind.SUITE_DECLARATION_CONFLICT,
                _where(DECLARATION_PARTITION, d.offset),
                f"declares {d.declaration.suite.value}, and the log is of the suite"
                f" {suite.value}: the first declaration fixes the suite, this one is ignored",
                partition=DECLARATION_PARTITION,
                offset=d.offset,
            )
            for d in self.declarations
            if d.trusted and d.declaration.suite is not suite
        ]

    def how(self) -> str:
        """How the suite was found, for messages."""
        declared = self.declared
        if declared is None:
            return "by its signed checkpoints, written before suites were declared"
        where = f"declared at p{DECLARATION_PARTITION}@{declared.offset}"
        if declared.trusted:
            return where
        return f"{where} with the key {declared.declaration.key_id}, which this key ring lacks"


def mismatch(log: LogSuite, mine: Suite, who: str, topic: str) -> str | None:
    """What to tell an operator whose ``who`` is set to ``mine`` on a log of another suite (or
    of both, undeclared); None when it may go on (the log's suite, or none fixed yet)."""
    if log.mixed:
        return (
            f"{who}: the log {topic} has no suite declaration and trusted checkpoints of both"
            " suites (international, guomi): it is no one suite's to extend; 'casetrail"
            " verify' says where"
        )
    suite = log.suite
    if suite is None or suite is mine:
        return None
    return (
        f"{who}: the log {topic} is of the suite {suite.value} ({log.how()}), and"
        f" CASETRAIL_CRYPTO_SUITE is {mine.value}: set CASETRAIL_CRYPTO_SUITE={suite.value}."
        " A log has one suite, fixed when it is made; to move to another, start a new log under"
        " another CASETRAIL_TOPIC_PREFIX and keep the old one as evidence (README,"
        " 'Cryptographic suites')"
    )
