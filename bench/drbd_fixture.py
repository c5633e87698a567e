"""The DRBD test double in a running lab, for the bench's drbd monitor (no DRBD module here).

The lab is named by PACEMAIL_BENCH_LAB (``pacemail lab up --name NAME`` first).
node2 and node3 bring the resource up, so node1's monitor sees connected,
UpToDate peers; the pair itself starts and stops node1's side. Nodes have a
private /tmp, so our launcher is copied into the lab's folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time

from pacemail.lab import power
from pacemail.lab.nodes import node_run
from pacemail.lab.topology import STATE_ROOT

RES = "mail"
PEERS = ("node2", "node3")


@contextlib.contextmanager
def drbd_lab_node(places):
    lab = os.environ.get("PACEMAIL_BENCH_LAB")
    if not lab:
        raise SystemExit("drbd monitor needs a running lab: pacemail lab up --name NAME, "
                         "then PACEMAIL_BENCH_LAB=NAME")
    agent = STATE_ROOT / lab / "bench-drbd"
    shutil.copy2(f"{places['ours']}/drbd", agent)
    for node in PEERS:
        node_run(lab, node, ["drbdadm", "up", RES], timeout=30)
    try:
        time.sleep(3)  # the double's peers connect within two ping intervals
        yield {"node1_pid": str(power.init_pid(lab, "node1")), "drbd_agent": str(agent),
               "lab_path": f"{STATE_ROOT / lab / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin"}
    finally:
        for node in PEERS:
            node_run(lab, node, ["drbdadm", "down", RES], timeout=30, check=False)
        agent.unlink()
