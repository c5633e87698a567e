"""``crm_verify``: Pacemaker's own schema and configuration check of a CIB."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pacemail.pacemaker.runner import Runner, local

TIMEOUT = 120.0
# The level a line was logged at is the first one it names: a warning may quote an agent's
# result, "Unexpected result (error: <exit reason>) was recorded for start of ...", which is
# the live status's history, not an error of the configuration.
LEVEL = re.compile(r"\b(?:(error|warning):|(Error|Warning)s found)")


@dataclass(frozen=True)
class Verification:
    returncode: int
    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


def verify(cib: bytes, *, run: Runner = local, timeout: float = TIMEOUT) -> Verification:
    """``crm_verify --xml-file``: the CIB is written to a file here, so ``run`` runs here."""
    with tempfile.TemporaryDirectory(prefix="pacemail-cib-") as tmp:
        path = Path(tmp) / "cib.xml"
        path.write_bytes(cib)
        done = run(["crm_verify", "--xml-file", str(path), "-VV"], timeout=timeout, check=False)
    lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    errors = tuple(line for line in lines if _level(line) == "error")
    warnings = tuple(line for line in lines if _level(line) == "warning")
    if done.returncode != 0 and not errors and not warnings:
        errors = (f"crm_verify exited {done.returncode}",) + tuple(lines[-3:])
    return Verification(done.returncode, errors, warnings)


def _level(line: str) -> str | None:
    found = LEVEL.search(line)
    return (found[1] or found[2].lower()) if found else None
