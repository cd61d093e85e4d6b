"""Who may read what (DOMAIN.md, Privacy): the scope of each token role.

- department: its own cases, with the personal data of their complainants and petitioners;
- supervisor: every department's cases (or the listed ones, and only what officers did for
  those), never personal data;
- auditor: everything, personal data included; every read of personal data is logged;
- public: aggregate statistics only.
Nobody sees the personal data of a case about their own department (the respondent), and the
identity of a complainant (who may be a whistle-blower, 举报人) only with a stated reason. A case
outside a reader's scope is unknown to it (404), exactly like a case that does not exist, and so
are its id in another case's links and history.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from events.model import CaseType
from events.privacy import MASK, mask_personal
from projections.queries.access_log import Read
from projections.read_models.cases import LINKED
from services.adapters.http import ApiError, ErrorCode
from services.tokens import Token, TokenRole

CASE_READERS = (TokenRole.DEPARTMENT, TokenRole.SUPERVISOR, TokenRole.AUDITOR)
"""The roles that read cases (within their scope); the public reads statistics only."""
REASON_REQUIRED = frozenset({CaseType.COMPLAINT})
"""Case types whose persons are shown only to a reader who states why (the reason goes into the
access log): a complaint or report (投诉举报) may come from a whistle-blower, whose identity
the law asks to keep confidential."""


class HistoryView(NamedTuple):
    steps: list[dict[str, Any]]
    """Masked, or as stored (sealed values still to be opened)."""
    personal: bool
    """Shows personal data: to be opened, and the read logged."""
    reason_required: bool
    """Masked only because no reason was given."""


@dataclass(frozen=True)
class Reader:
    token: Token

    def require(self, *roles: TokenRole) -> None:
        if self.token.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise ApiError(403, ErrorCode.FORBIDDEN_ROLE, f"this needs a token of: {allowed}")

    def departments(self) -> list[str] | None:
        """The departments whose cases it may read; None for all."""
        role = self.token.role
        if role is TokenRole.AUDITOR or (
            role is TokenRole.SUPERVISOR and not self.token.departments
        ):
            return None
        if role in (TokenRole.SUPERVISOR, TokenRole.DEPARTMENT):
            return list(self.token.departments)
        return []

    def may_read_case(self, owner_department: str) -> bool:
        scope = self.departments()
        return scope is None or owner_department in scope

    def sees_personal_data(self, owner_department: str, respondent: str | None) -> bool:
        if respondent is not None and respondent in self.token.departments:
            return False  # never the unit the complaint or petition is about
        if self.token.role is TokenRole.AUDITOR:
            return True
        if respondent == MASK:
            # The opening step's payload could not be read in the current schema, so nobody
            # can tell which unit it is about: only an auditor sees the personal data.
            return False
        return (
            self.token.role is TokenRole.DEPARTMENT and owner_department in self.token.departments
        )

    def view_history(
        self,
        owner_department: str,
        case_type: str,
        steps: list[dict[str, Any]],
        reason: str | None = None,
    ) -> HistoryView:
        """A case's steps as this reader may see them, and whether they show personal data (a
        read the access log must record).

        Both are decided on each payload upcast to the current schema (``mask_personal``): a
        step stored at an older schema version is masked, and its read logged, like a new one.
        A reader who may see personal data gets the payloads as stored (the record the hashes
        cover, to be opened); any other reader, or one who gave no reason where one is
        required, gets them masked, in the current schema, with the ``schema_version`` of what
        it is shown."""
        masked = [mask_personal(s["type"], s["schema_version"], s["payload"]) for s in steps]
        respondent = masked[0].payload.get("respondent") if masked else None
        personal = any(m.personal for m in masked)
        sees = self.sees_personal_data(owner_department, respondent)
        unexplained = sees and personal and case_type in REASON_REQUIRED and not reason
        if not sees or unexplained:
            shown = [
                {**step, "payload": m.payload, "schema_version": m.schema_version}
                for step, m in zip(steps, masked, strict=True)
            ]
            return HistoryView(shown, False, unexplained)
        return HistoryView(steps, personal, False)

    def hide_unseen_links(
        self, steps: list[dict[str, Any]], owners: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """``steps`` with the other case of every link this reader may not read masked: a
        case's history must not tell a department another department's case ids (as its links
        do not). ``owners``: the owning department of each linked case that exists; a case not
        registered yet is nobody's, so only a reader without limits sees its id."""
        if self.departments() is None:
            return steps
        shown = []
        for step in steps:
            other = step["payload"].get("other_case_id") if step["type"] == LINKED else None
            if other is not None and not (other in owners and self.may_read_case(owners[other])):
                step = {**step, "payload": {**step["payload"], "other_case_id": MASK}}
            shown.append(step)
        return shown

    def access_entry(self, case_id: str, events: int, reason: str | None) -> Read:
        """The access-log entry for this reader's read of ``events`` events of a case."""
        token = self.token
        return Read(token.token_id, token.role.value, token.name, case_id, events, reason)
