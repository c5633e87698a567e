"""corosync's totem timing in effect (``corosync-cmapctl``): how long a silent node has.

A node that stops answering is declared lost after the token timeout and then
the consensus timeout. corosync computes both when it starts (the configured
token plus ``token_coefficient`` per node beyond two; consensus 1.2 times the
token unless set), so the figures that decide a failover, and whether a
merely slow node is fenced, are the runtime ones (``runtime.config.totem.*``),
not corosync.conf's. Errors are data: a corosync that does not answer gives a
:class:`Totem` with ``error`` set instead of raising.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from pacemail.pacemaker.runner import Runner, local
from pacemail.proc import CommandError

TIMEOUT = 5.0
RUNTIME_TOKEN = "runtime.config.totem.token"
RUNTIME_CONSENSUS = "runtime.config.totem.consensus"
TOKEN_COEFFICIENT = "totem.token_coefficient"     # configured only; absent: corosync's 650


@dataclass(frozen=True)
class Totem:
    token_ms: int | None = None
    consensus_ms: int | None = None
    token_coefficient_ms: int | None = None   # None when corosync.conf does not set it
    error: str | None = None

    def summary(self) -> str:
        if self.error:
            return f"not read ({self.error})"
        text = f"token {self.token_ms} ms, consensus {self.consensus_ms} ms (runtime)"
        if self.token_coefficient_ms is not None:
            text += f", token_coefficient {self.token_coefficient_ms} ms"
        return text

    def as_dict(self) -> dict:
        return asdict(self)


def value(text: str, key: str) -> int | None:
    """The integer ``key`` holds in ``corosync-cmapctl`` output (``key (u32) = 300``)."""
    match = re.search(rf"^{re.escape(key)} \(\w+\) = (\d+)\s*$", text, re.M)
    return int(match[1]) if match else None


def read(*, run: Runner = local, timeout: float = TIMEOUT) -> Totem:
    """The token and consensus corosync runs with, and the configured token_coefficient."""
    found: dict[str, int | None] = {}
    for key in (RUNTIME_TOKEN, RUNTIME_CONSENSUS, TOKEN_COEFFICIENT):
        try:
            done = run(["corosync-cmapctl", "-g", key], timeout=timeout, check=False)
        except CommandError as exc:
            return Totem(error=str(exc))
        found[key] = value(done.stdout, key)
        if key != TOKEN_COEFFICIENT and found[key] is None:
            said = (done.stderr or done.stdout).strip().splitlines()
            return Totem(error=said[-1] if said else f"no {key} from corosync-cmapctl")
    return Totem(found[RUNTIME_TOKEN], found[RUNTIME_CONSENSUS], found[TOKEN_COEFFICIENT])
