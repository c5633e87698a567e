"""Errors and warnings as data.

Library functions never print and never raise for a bad description: they
return :class:`Problem` objects, and the CLI decides how to show them. A
description with any ERROR never becomes a CIB.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Location:
    """Where in a description file a problem is: file, 1-based line, dotted key path."""

    file: str
    line: int | None = None
    key: str = ""

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.key}" if self.key else where


@dataclass(frozen=True)
class Problem:
    severity: Severity
    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.severity.value}: {self.message}"


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity is Severity.ERROR]
