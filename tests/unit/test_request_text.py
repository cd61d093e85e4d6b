"""What a request may carry into PostgreSQL, checked on both services' OpenAPI documents (built
from the code, no server started): every text parameter of the address is one PostgreSQL can
hold (no NUL, a bounded length) or is fully constrained (a pattern, a format, a list of values),
so that a parameter added later without the shared type fails here, not as a 500 in use."""

from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from services.adapters.http import NO_NUL, TEXT_MAX, Instant, Text
from services.gateway.app import create_app as gateway_app
from services.integrity.keyring import write_private_key
from services.query.app import create_app as query_app
from services.settings import Settings
from tests.signing import new_private_key


def _string_schemas(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in [schema, *schema.get("anyOf", [])] if s.get("type") == "string"]


@pytest.mark.parametrize("make", [query_app, gateway_app], ids=["query", "gateway"])
def test_every_text_parameter_is_storable_or_constrained(make: Any, tmp_path: Path) -> None:
    key = tmp_path / "gateway.pem"  # the gateway will not start without its signing key
    write_private_key(key, new_private_key())
    # Nothing connects: the document is made from the routes.
    settings = Settings(gateway_signing_key_file=key, kafka_password="unused")
    document = make(settings).openapi()
    checked = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] not in ("path", "query"):
                    continue
                for schema in _string_schemas(parameter["schema"]):
                    name = f"{method.upper()} {path} {parameter['name']}"
                    constrained = "format" in schema or "enum" in schema or "const" in schema
                    if schema.get("pattern") == NO_NUL:
                        assert schema.get("maxLength", 0) > 0, f"{name}: no maxLength"
                    else:
                        assert constrained or "pattern" in schema, f"{name}: any text at all"
                    checked.append(name)
    assert checked, "no text parameter seen: the walk is wrong"


def test_text_refuses_what_postgresql_cannot_hold() -> None:
    text: TypeAdapter[str] = TypeAdapter(Text)
    assert text.validate_python("信访办") == "信访办"
    for bad in ("信访办\x00", "a" * (TEXT_MAX + 1), "\ud800"):
        with pytest.raises(ValidationError):
            text.validate_python(bad)


@pytest.mark.parametrize(
    "bad",
    ["+0.0", "-4800", "99999999999", "0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-12:00"],
)
def test_an_instant_is_iso_8601_and_in_range(bad: str) -> None:
    instant: TypeAdapter[Any] = TypeAdapter(Instant)
    assert instant.validate_python("2020-03-04T09:30:00+08:00").utcoffset().total_seconds() == 28800
    with pytest.raises(ValidationError):
        instant.validate_python(bad)
