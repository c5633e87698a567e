"""The probe a VM runs for the drill's sampler: one JSON line a second, from /proc, stdlib only.

Shipped as source over ssh (``python3 -u -c <this file> ARGS``) by
:mod:`pacemail.drills.vmsampler`: one long-lived process per node instead of
an ssh command per sample (polling a TCG guest with an ssh command every
2 s costs it minutes of CPU). Each line says what the node holds at that moment:

``{"t": guest time, "vip": bool, "mount": bool, "drbd": {"cs", "role", "disk",
"peer_disk"}, "masters": ["postfix", "dovecot"]}``

Nothing here imports pacemail: the guest runs it from the source text. The
functions are pure over /proc texts, so the host's tests and the lab sampler
(:mod:`pacemail.drills.sampler`) use them too.
"""

from __future__ import annotations

import json
import os
import sys
import time

MASTERS = {"master": "postfix", "dovecot": "dovecot"}  # comm of a daemon's master -> kind


def local_addresses(fib_trie: str) -> set[str]:
    """Addresses a ``/proc/net/fib_trie`` text marks ``/32 host LOCAL``."""
    found, last = set(), None
    for line in fib_trie.splitlines():
        text = line.strip()
        if text.startswith("|--"):
            last = text[3:].strip()
        elif text == "/32 host LOCAL" and last:
            found.add(last)
    return found


def mounted(mounts: str, mount_point: str) -> str | None:
    """The device mounted on ``mount_point`` in a ``/proc/mounts`` text, or None."""
    for line in mounts.splitlines():
        words = line.split()
        if len(words) >= 2 and words[1] == mount_point:
            return words[0]
    return None


def drbd_state(proc_drbd: str, minor: int = 0) -> dict:
    """cs, own role and disk, peer disk of one minor in DRBD 8.4's /proc/drbd ({} if absent)."""
    for line in proc_drbd.splitlines():
        head, _, rest = line.strip().partition(": ")
        if head != str(minor):
            continue
        fields = dict(f.split(":", 1) for f in rest.split() if ":" in f)
        role = fields.get("ro", "").partition("/")[0]
        disk, _, peer_disk = fields.get("ds", "").partition("/")
        return {"cs": fields.get("cs", ""), "role": role, "disk": disk, "peer_disk": peer_disk}
    return {}


def stat_comm_ppid(stat: str) -> tuple[str, int]:
    """(comm, ppid) from a ``/proc/PID/stat`` text (comm may hold spaces and parentheses)."""
    comm = stat[stat.index("(") + 1:stat.rindex(")")]
    return comm, int(stat[stat.rindex(")") + 2:].split()[1])


def masters(stats: dict[int, str]) -> list[str]:
    """Kinds whose master runs: a ``master`` or ``dovecot`` process whose parent is init.

    Daemons detach and are re-parented to PID 1; an agent's ``dovecot --version``
    probe (a child of the agent) is not a master.
    """
    found = set()
    for stat in stats.values():
        try:
            comm, ppid = stat_comm_ppid(stat)
        except (ValueError, IndexError):
            continue
        if ppid == 1 and comm in MASTERS:
            found.add(MASTERS[comm])
    return sorted(found)


def _read(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _stats(proc: str) -> dict[int, str]:
    """``/proc/PID/stat`` of init's children (where daemons end up), or of every process
    when the kernel has no ``children`` file: a scan of ~20 files, not ~150, each second."""
    children = _read(f"{proc}/1/task/1/children")
    pids = children.split() if children else [n for n in os.listdir(proc) if n.isdigit()]
    out = {}
    for name in pids:
        text = _read(f"{proc}/{name}/stat")
        if text:
            out[int(name)] = text
    return out


def probe(address: str, mount_point: str, proc: str = "/proc") -> dict:
    return {"t": time.time(),
            "vip": address in local_addresses(_read(f"{proc}/net/fib_trie")),
            "mount": mounted(_read(f"{proc}/mounts"), mount_point) is not None,
            "drbd": drbd_state(_read(f"{proc}/drbd")),
            "masters": masters(_stats(proc))}


def main(argv: list[str]) -> int:
    """ARGS: ADDRESS MOUNT_POINT [PERIOD_S [COUNT]] (COUNT 0: until the pipe closes)."""
    address, mount_point = argv[0], argv[1]
    period = float(argv[2]) if len(argv) > 2 else 1.0
    count = int(argv[3]) if len(argv) > 3 else 0
    n = 0
    while count == 0 or n < count:
        started = time.monotonic()
        try:
            sys.stdout.write(json.dumps(probe(address, mount_point)) + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            return 0
        n += 1
        time.sleep(max(0.0, period - (time.monotonic() - started)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
