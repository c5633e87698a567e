"""Cluster nodes as Pacemaker's controller knows them: this node's id, a peer's liveness."""

from __future__ import annotations

from pacemail.pacemaker.runner import Runner, local


def local_id(*, run: Runner = local, timeout: float = 30.0) -> str:
    """``crm_node --cluster-id``: this node's id, as the CIB's ``dc-uuid`` names nodes."""
    return run(["crm_node", "--cluster-id"], timeout=timeout).stdout.strip()


def controller_reachable(node: str, *, run: Runner = local, timeout: float = 5.0) -> bool:
    """``crmadmin --status NODE``: does NODE's controller answer through the cluster now?"""
    done = run(["crmadmin", "--status", node, "--timeout", f"{int(timeout * 1000)}ms"],
               timeout=timeout + 5, check=False)
    return done.returncode == 0 and done.stdout.rstrip().endswith("ok")
