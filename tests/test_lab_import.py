"""Moving a mail stack built by hand with pcs over to pacemail, on the live lab, with no restart.

An admin's stack goes in through pcs on node1 (DRBD as a promotable clone,
then one group: the mail volume, the VIP under ocf:heartbeat:IPaddr2, postfix
and dovecot under the resource-agents shell agents), built on a copy of the
CIB and pushed at once, as Pacemaker's guides build DRBD stacks, so that the
volume never starts before its constraints exist, and runs. ``pacemail
import`` of the live CIB gives the description (the lab's own fence device for
every node among it, taken over like the rest); moving over follows
DESCRIPTION.md's "Import": maintenance mode, ``pacemail apply``, the
elements import lists as replaced deleted, a refresh, maintenance mode off.
Then ``plan`` has nothing to change, the stack runs under pacemail's ids on
the node it ran on, and no part of it was stopped, started, promoted or
demoted: the mail daemons keep their PIDs and Pacemaker's log has no such
operation. The lab's configuration is put back afterwards.
"""

from __future__ import annotations

import re

from pacemail.controller import apply
from pacemail.controller.description import load
from pacemail.controller.importer import import_cib
from pacemail.drills import mainjob, target
from pacemail.lab import cluster
from pacemail.lab.nodes import node_run, node_runner
from pacemail.pacemaker import attributes, cib, resources
from test_controller_import import LAB_BY_HAND

HAND_BUILT = ("fs-mail", "vip-mail", "postfix", "dovecot")
PACEMAILS = ("pm-mount", "pm-vip-mail", "pm-postfix-main", "pm-dovecot")   # what they become
STACK_WAIT_S = 120.0
SETTLE_S = 120.0
LOG = "/var/log/pacemaker/pacemaker.log"
# Any operation that would have interrupted mail, under the old ids or pacemail's.
DISRUPTED = re.compile(r"Result of (start|stop|promote|demote) operation for "
                       r"((pm-)?(drbd|drbd-mail|mount|fs-mail|vip-mail|postfix|postfix-main|dovecot)) on")


def build_by_hand(lab, folder) -> None:
    """What an admin types on node1, against the running cluster (``pcs cluster cib``, ``pcs -f``,
    ``pcs cluster cib-push --config``)."""
    draft = str(folder / "hand-built.xml")
    def pcs(*args):
        node_run(lab.name, "node1", ["pcs", *args], timeout=60)
    pcs("cluster", "cib", draft)
    for args in LAB_BY_HAND:
        pcs("-f", draft, *args)
    pcs("cluster", "cib-push", draft, "--config")


def daemons(lab, node: str) -> tuple[str, str]:
    """The postfix and dovecot master PIDs on ``node``."""
    def oldest(name: str) -> str:
        return node_run(lab.name, node, ["pgrep", "-o", "-x", name], timeout=10).stdout.strip()
    return oldest("master"), oldest("dovecot")


def log_sizes(lab) -> dict[str, int]:
    return {n.name: int(node_run(lab.name, n.name, ["stat", "-c", "%s", LOG], timeout=10).stdout)
            for n in lab.nodes}


def disruptions_since(lab, sizes: dict[str, int]) -> list[str]:
    out = []
    for node, size in sizes.items():
        tail = node_run(lab.name, node, ["tail", "-c", f"+{size + 1}", LOG], timeout=10).stdout
        out += [f"{node}: {m.group(0)}" for m in DISRUPTED.finditer(tail)]
    return out


def move_over(lab, d, replaced: tuple[str, ...]) -> None:
    """DESCRIPTION.md, "Import": pacemail's copy beside the old one with nothing managed, the old
    one deleted, everything probed again, then managed again."""
    run = node_runner(lab.name, "node1")
    attributes.set_property("maintenance-mode", "true", run=run)
    outcome = apply.apply(d, run=run)          # no --allow-restart: nothing may be disrupted
    assert outcome.pushed and not outcome.refused, outcome.refused
    for rid in replaced:
        cib.delete(f"//*[@id='{rid}']", run=run)
    run(["crm_resource", "--refresh"], timeout=60)
    resources.wait(SETTLE_S, run=run)
    attributes.delete_property("maintenance-mode", run=run)
    resources.wait(SETTLE_S, run=run)


def restore(lab, configuration: bytes) -> None:
    """Stop whichever stack runs (its DRBD clone stopped takes all above it), then the lab's
    configuration as it was."""
    run = node_runner(lab.name, "node1")
    attributes.delete_property("maintenance-mode", run=run)
    present = cib.get("resources", run=run).decode()
    for clone in ("pm-drbd-clone", "drbd-mail-clone"):
        if f'id="{clone}"' in present:
            resources.set_meta(clone, "target-role", "Stopped", run=run)
    ids = set(HAND_BUILT + PACEMAILS)
    cluster.wait_for(lambda: not ids & set(cluster.crm_view(lab.name, "node1").resources),
                     STACK_WAIT_S, "the mail stack stopped", interval=1.0)
    run(["cibadmin", "--replace", "--scope", "configuration", "--xml-pipe"], timeout=60,
        input=configuration.decode())
    cluster.wait_for_quorum(lab.name, [n.name for n in lab.nodes], 60)


def test_a_hand_built_stack_moves_over_to_pacemail_without_a_restart(lab, tmp_path):
    run = node_runner(lab.name, "node1")
    before = cib.get("configuration", run=run)
    try:
        build_by_hand(lab, tmp_path)
        node = cluster.wait_for(lambda: mainjob.running_on(lab, HAND_BUILT), STACK_WAIT_S,
                                "the hand-built stack on one node", interval=1.0)
        cluster.settle(lab.name, "node1", SETTLE_S)

        result = import_cib(cib.get(run=run), f"lab {lab.name}")
        assert result.description is not None, [str(p) for p in result.problems]
        d = result.description
        assert (d.storage.device, d.storage.mount_point) == ("/dev/drbd0", "/srv/mail")
        assert [(v.name, v.address, v.interface) for v in d.vips] == [("mail", "198.18.0.100", "eth0")]
        assert {"mail", "drbd-mail-clone"} <= set(result.replaced)
        (tmp_path / "mail.yaml").write_text(result.text)
        d = load(tmp_path / "mail.yaml").description    # as `pacemail apply mail.yaml` reads it
        assert d is not None and target.stack_ids(d) == PACEMAILS

        pids, sizes = daemons(lab, node), log_sizes(lab)
        move_over(lab, d, result.replaced)

        assert apply.plan_live(d, run=run).changes == ()
        assert mainjob.running_on(lab, PACEMAILS) == node
        assert not set(HAND_BUILT) & set(cluster.crm_view(lab.name, "node1").resources)
        assert cib.element("//*[@id='drbd-mail-clone']", run=run) is None
        assert daemons(lab, node) == pids
        assert disruptions_since(lab, sizes) == []
    finally:
        restore(lab, before)
