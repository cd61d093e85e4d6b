"""Who may do what on Kafka: CaseTrail's ACLs, and the SCRAM users they name.

Every client signs in as a user (SASL/SCRAM-SHA-512, ``adapters.kafka.client_options``) and the
brokers' standard authorizer allows a user only what an ACL grants (``allow.everyone.if.no.acl.
found=false``). The table below is the whole policy, for the topics of one prefix:

| user | may |
|---|---|
| decider | read submissions; read and write events, outcomes, checkpoints; write dead |
|   | letters; its consumer group; its transactional ids |
| gateway, department | write submissions; read outcomes |
| projector | read events; the projections' consumer groups |
| query | read events, checkpoints, outcomes |
| auditor | read events, checkpoints, outcomes, dead letters |
| admin | everything (a super user of the brokers: topics, ACLs, users) |

So a leaked gateway or department password can publish submissions, which the decider checks and
answers, but can never append to the log of record.

aiokafka has no call for ACLs or SCRAM users, so the two requests are made here from its
protocol classes (CreateAcls v1, DeleteAcls v1, AlterUserScramCredentials v0).
"""

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import (
    CreateAclsRequest,
    CreateAclsRequestStruct,
    DeleteAclsRequest,
    DeleteAclsRequestStruct,
)
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

from services.settings import KafkaRole, Settings


class Resource(IntEnum):
    TOPIC = 2
    GROUP = 3
    TRANSACTIONAL_ID = 5


class Pattern(IntEnum):
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    READ = 3
    WRITE = 4
    DESCRIBE_CONFIGS = 10


ALLOW = 3
ANY_HOST = "*"


@dataclass(frozen=True)
class Grant:
    """One ACL: ``user`` may do ``operation`` on the resource ``name`` (or every name that
    starts with it, when PREFIXED)."""

    user: str
    resource: Resource
    name: str
    operation: Operation
    pattern: Pattern = Pattern.LITERAL

    def creation(self) -> tuple[Any, ...]:
        principal = f"User:{self.user}"
        return (
            self.resource,
            self.name,
            self.pattern,
            principal,
            ANY_HOST,
            self.operation,
            ALLOW,
        )


def role_grants(settings: Settings, role: KafkaRole, user: str | None = None) -> list[Grant]:
    """What ``role`` may do on the topics of the settings' prefix, granted to ``user`` (the
    role's own user by default; e.g. a department's publisher registered under its own name)."""
    who = user or role.value
    read, write = Operation.READ, Operation.WRITE

    def topic(name: str, *operations: Operation) -> list[Grant]:
        return [Grant(who, Resource.TOPIC, name, op) for op in operations]

    s = settings
    policy: dict[KafkaRole, Callable[[], list[Grant]]] = {
        KafkaRole.ADMIN: list,  # a super user: needs no ACL
        KafkaRole.DECIDER: lambda: [
            # Write: a submission that arrived on another partition than its case's is
            # forwarded there (any partitioner works for the publishers).
            *topic(s.submissions_topic, read, write),
            *topic(s.events_topic, read, write),
            *topic(s.outcomes_topic, read, write),
            *topic(s.checkpoints_topic, read, write),
            *topic(s.snapshots_topic, read, write),
            *topic(s.deadletter_topic, write, Operation.DESCRIBE_CONFIGS),
            Grant(who, Resource.GROUP, s.decider_group, read),
            # The transactional ids are <group>.p<partition> (one per partition).
            Grant(who, Resource.TRANSACTIONAL_ID, f"{s.decider_group}.p", write, Pattern.PREFIXED),
        ],
        KafkaRole.GATEWAY: lambda: [
            *topic(s.submissions_topic, write),
            *topic(s.outcomes_topic, read),
        ],
        KafkaRole.DEPARTMENT: lambda: [
            *topic(s.submissions_topic, write),
            *topic(s.outcomes_topic, read),
        ],
        KafkaRole.PROJECTOR: lambda: [
            *topic(s.events_topic, read),
            Grant(who, Resource.GROUP, f"{s.topic_prefix}.projection.", read, Pattern.PREFIXED),
        ],
        KafkaRole.QUERY: lambda: [
            *topic(s.events_topic, read),
            *topic(s.checkpoints_topic, read),
            *topic(s.outcomes_topic, read),
        ],
        KafkaRole.AUDITOR: lambda: [
            *topic(s.events_topic, read),
            *topic(s.checkpoints_topic, read),
            *topic(s.outcomes_topic, read),
            *topic(s.deadletter_topic, read),
        ],
    }
    return policy[role]()


def all_grants(settings: Settings) -> list[Grant]:
    """The ACLs of every role's own user on the settings' topics."""
    return [grant for role in KafkaRole for grant in role_grants(settings, role)]


class AclError(RuntimeError):
    """Kafka refused to create or delete an ACL or a user."""


class _CreateAcls(CreateAclsRequest):  # type: ignore[misc]
    """aiokafka's CreateAcls carries one ACL; this carries many."""

    def __init__(self, creations: list[tuple[Any, ...]]):
        self.creations = creations

    def build(self, request_struct_class: type[CreateAclsRequestStruct]) -> CreateAclsRequestStruct:
        if request_struct_class.API_VERSION < 1:
            raise AclError("the broker is too old for prefixed ACLs (CreateAcls v1)")
        return request_struct_class(self.creations)


class _DeleteAcls(DeleteAclsRequest):  # type: ignore[misc]
    def __init__(self, filters: list[tuple[Any, ...]]):
        self.filters = filters

    def build(self, request_struct_class: type[DeleteAclsRequestStruct]) -> DeleteAclsRequestStruct:
        if request_struct_class.API_VERSION < 1:
            raise AclError("the broker is too old for prefixed ACLs (DeleteAcls v1)")
        return request_struct_class(self.filters)


async def create_acls(client: AIOKafkaAdminClient, grants: list[Grant]) -> None:
    """Create the ACLs (creating one that exists changes nothing)."""
    if not grants:
        return
    response = await client._send_request(_CreateAcls([g.creation() for g in grants]))
    failures = [f"{message} ({code})" for code, message in response.creation_responses if code != 0]
    if failures:
        raise AclError("Kafka refused ACLs: " + "; ".join(sorted(set(failures))))


async def delete_acls(client: AIOKafkaAdminClient, grants: list[Grant]) -> None:
    """Delete exactly these ACLs (a test run's or a benchmark's, when its topics go)."""
    if grants:
        await client._send_request(_DeleteAcls([g.creation() for g in grants]))


# --- SCRAM users -----------------------------------------------------------------------------

SCRAM_SHA_512 = 2
"""The mechanism's number in AlterUserScramCredentials."""
ITERATIONS = 8192


class _AlterScramResponse(Response):  # type: ignore[misc]
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _AlterScramStruct(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = _AlterScramResponse
    SCHEMA = Schema(
        (
            "deletions",
            CompactArray(
                ("name", CompactString("utf-8")), ("mechanism", Int8), ("tags", TaggedFields)
            ),
        ),
        (
            "upsertions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _AlterScram(Request[_AlterScramStruct]):  # type: ignore[misc]
    API_KEY = 51

    def __init__(self, upsertions: list[tuple[Any, ...]]):
        self.upsertions = upsertions

    def build(self, request_struct_class: type[_AlterScramStruct]) -> _AlterScramStruct:
        return request_struct_class([], self.upsertions, {})


async def set_password(client: AIOKafkaAdminClient, user: str, password: str) -> None:
    """Create the SCRAM-SHA-512 user ``user`` with ``password``, or change its password. Only
    the salted hash travels (RFC 5802's SaltedPassword); the broker never sees the password."""
    salt = secrets.token_bytes(32)
    salted = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS)
    request = _AlterScram([(user, SCRAM_SHA_512, ITERATIONS, salt, salted, {})])
    response = await client._send_request(request)
    for name, code, message, _ in response.results:
        if code != 0:
            raise AclError(f"Kafka refused user {name!r}: {message} ({code})")
