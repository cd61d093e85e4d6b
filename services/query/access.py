"""Who may read what (DOMAIN.md, Privacy): the scope of each token role, and the access log.

- department: its own cases, with the personal data of their complainants and petitioners;
- supervisor: every department's cases (or the listed ones), never personal data;
- auditor: everything, personal data included; every read of personal data is logged;
- public: aggregate statistics only.
Nobody sees the personal data of a case about their own department (the respondent).
"""

from dataclasses import dataclass

from projections.base import Connection, create_tables
from services.http import ApiError
from services.tokens import Token, TokenRole

ACCESS_LOG_DDL = """
CREATE TABLE IF NOT EXISTS personal_data_reads (
    at        timestamptz NOT NULL DEFAULT now(),
    token_id  text NOT NULL,
    role      text NOT NULL,
    reader    text NOT NULL,
    case_id   text NOT NULL,
    events    integer NOT NULL
);
CREATE INDEX IF NOT EXISTS personal_data_reads_case ON personal_data_reads (case_id, at);
"""


@dataclass(frozen=True)
class Reader:
    token: Token

    def require(self, *roles: TokenRole) -> None:
        if self.token.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise ApiError(403, "forbidden_role", f"this needs a token of: {allowed}")

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

    def check_case(self, owner_department: str) -> None:
        scope = self.departments()
        if scope is not None and owner_department not in scope:
            raise ApiError(403, "forbidden_case", "this case belongs to another department")

    def sees_personal_data(self, owner_department: str, respondent: str | None) -> bool:
        if respondent is not None and respondent in self.token.departments:
            return False  # never the unit the complaint or petition is about
        if self.token.role is TokenRole.AUDITOR:
            return True
        return (
            self.token.role is TokenRole.DEPARTMENT and owner_department in self.token.departments
        )


async def log_personal_data_read(
    conn: Connection, reader: Reader, case_id: str, events: int
) -> None:
    await conn.execute(
        "INSERT INTO personal_data_reads (token_id, role, reader, case_id, events)"
        " VALUES ($1, $2, $3, $4, $5)",
        reader.token.token_id,
        reader.token.role.value,
        reader.token.name,
        case_id,
        events,
    )


async def ensure_access_log(conn: Connection) -> None:
    await create_tables(conn, ACCESS_LOG_DDL)
