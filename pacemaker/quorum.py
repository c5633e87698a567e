"""corosync's word: this node's votequorum state (``corosync-quorumtool -s``), nodelist and
quorum settings.

corosync is the authority on quorum: Pacemaker's own view (the CIB's
``have-quorum``) is a copy the DC writes, and lags behind a partition.
Errors are data: when corosync does not answer, the state says so
(``running=False`` with the tool's message) instead of raising.

Only the standard library and :mod:`pacemail.proc`: the quorum guard reads
this on every promote.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from pacemail.pacemaker.runner import Runner, local
from pacemail.proc import CommandError

TIMEOUT = 5.0


@dataclass(frozen=True)
class Member:
    id: int
    name: str
    votes: int
    local: bool


@dataclass(frozen=True)
class QuorumState:
    running: bool                      # corosync answered
    quorate: bool = False
    node_id: int | None = None
    expected_votes: int | None = None
    total_votes: int | None = None
    quorum: int | None = None          # votes needed
    two_node: bool = False
    wait_for_all: bool = False
    flags: tuple[str, ...] = ()
    members: tuple[Member, ...] = ()
    error: str | None = None
    highest_expected: int | None = None
    qdevice: bool = False              # a quorum device (corosync-qdevice) is registered
    qdevice_votes: int | None = None   # the votes it casts here now (0: none, e.g. no qnetd)

    @property
    def member_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.members)

    def summary(self) -> str:
        if not self.running:
            return f"corosync is not answering on this node ({self.error})"
        word = "quorate" if self.quorate else "NOT quorate"
        mode = " two_node" if self.two_node else ""
        device = (f", quorum device casting {self.qdevice_votes} vote(s)"
                  if self.qdevice else "")
        return (f"{word}{mode}: {self.total_votes} of {self.expected_votes} expected votes "
                f"(quorum {self.quorum}), members {', '.join(self.member_names) or 'none'}"
                + device)

    def as_dict(self) -> dict:
        return asdict(self)


def read(*, run: Runner = local, timeout: float = TIMEOUT) -> QuorumState:
    """Ask corosync; never raises for a down or hanging corosync."""
    try:
        done = run(["corosync-quorumtool", "-s"], timeout=timeout, check=False)
    except CommandError as exc:
        return QuorumState(running=False, error=str(exc))
    # -s exits 0 when quorate, 2 when not; anything else: no answer from corosync
    if done.returncode not in (0, 2):
        message = (done.stderr or done.stdout).strip().splitlines()
        return QuorumState(running=False, error=message[-1] if message else
                           f"corosync-quorumtool exited {done.returncode}")
    return parse(done.stdout)


def parse(text: str) -> QuorumState:
    """``corosync-quorumtool -s`` (or ``-p``) output -> state."""
    fields: dict[str, str] = {}
    members: list[Member] = []
    device_votes = None
    in_members = False
    for line in text.splitlines():
        if line.strip().startswith("Nodeid"):
            in_members = True
            continue
        if in_members:
            words = line.split()
            if words[:1] == ["0"] and len(words) >= 3 and words[1].isdigit():
                device_votes = int(words[1])   # the quorum device's line (node id 0), no member
            else:
                members += _member(words)
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    if "Quorate" not in fields:
        return QuorumState(running=False, error="no 'Quorate:' line in corosync-quorumtool output")
    flags = tuple(fields.get("Flags", "").split())
    return QuorumState(
        running=True,
        quorate=fields["Quorate"] == "Yes",
        node_id=_int(fields.get("Node ID")),
        expected_votes=_int(fields.get("Expected votes")),
        total_votes=_int(fields.get("Total votes")),
        quorum=_int(fields.get("Quorum")),
        two_node="2Node" in flags,
        wait_for_all="WaitForAll" in flags,
        flags=flags,
        members=tuple(members),
        highest_expected=_int(fields.get("Highest expected")),
        qdevice="Qdevice" in flags,
        qdevice_votes=device_votes,
    )


def configured_nodes(*, run: Runner = local, timeout: float = TIMEOUT) -> dict[int, str]:
    """Corosync's nodelist (node id -> name), also the nodes that are not members now."""
    done = run(["corosync-cmapctl", "nodelist.node."], timeout=timeout)
    ids: dict[str, int] = {}
    names: dict[str, str] = {}
    for line in done.stdout.splitlines():
        match = re.match(r"nodelist\.node\.(\d+)\.(name|nodeid) \(\w+\) = (.*)$", line.strip())
        if match:
            if match[2] == "name":
                names[match[1]] = match[3].strip()
            else:
                ids[match[1]] = int(match[3])
    return {ids[pos]: name for pos, name in names.items() if pos in ids}


def settings(*, run: Runner = local, timeout: float = TIMEOUT) -> dict[str, str]:
    """corosync's quorum section as it runs with it (``corosync-cmapctl quorum.``): each key
    below ``quorum.`` (``two_node``, ``device.model``, ``device.net.host``) -> its value."""
    done = run(["corosync-cmapctl", "quorum."], timeout=timeout)
    return cmap_values(done.stdout, "quorum.")


def cmap_values(text: str, prefix: str) -> dict[str, str]:
    """``corosync-cmapctl`` output (``quorum.device.net.port (u16) = 5403``) -> the keys below
    ``prefix`` and their values as text."""
    out = {}
    for line in text.splitlines():
        match = re.match(r"(\S+) \(\w+\) = (.*)$", line.strip())
        if match and match[1].startswith(prefix):
            out[match[1].removeprefix(prefix)] = match[2].strip()
    return out


def answers(*, run: Runner = local, timeout: float = 2.0) -> bool:
    """Does corosync's configuration map answer (``corosync-cmapctl -g totem.cluster_name``)?"""
    try:
        run(["corosync-cmapctl", "-g", "totem.cluster_name"], timeout=timeout)
    except CommandError:
        return False
    return True


def _member(words: list[str]) -> list[Member]:
    """``Nodeid Votes [Qdevice] Name [(local)]`` -> the member, or nothing for other lines."""
    local = words[-1:] == ["(local)"]
    words = words[:-1] if local else words
    if len(words) < 3 or not (words[0].isdigit() and words[1].isdigit()):
        return []
    return [Member(int(words[0]), words[-1], int(words[1]), local)]


def _int(value: str | None) -> int | None:
    match = re.match(r"\d+", value or "")
    return int(match.group()) if match else None
