"""The labels of coded values ("中文 / English"), kept beside the enums they name.

Every user-facing code (a channel, a penalty kind, an answer type) has a label here, so that no
screen ever shows a raw code where a label exists. ``events.labels`` gathers these with the
lifecycle tables' own titles into one catalogue.
"""

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

E = TypeVar("E", bound=StrEnum)

ENUM_TITLES: dict[str, dict[str, str]] = {}
"""Enum class name → value → "中文 / English"."""


def titled(enum: type[E], titles: Mapping[E, str]) -> type[E]:
    """Register the labels of every member of ``enum`` (all of them: a missing one is a bug)."""
    missing = [member.value for member in enum if member not in titles]
    if missing:
        raise ValueError(f"{enum.__name__}: members without a title: {missing}")
    ENUM_TITLES[enum.__name__] = {member.value: titles[member] for member in enum}
    return enum
