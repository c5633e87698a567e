"""``crm_resource``: wait for the cluster to settle, clean up, move, and resource meta attributes."""

from __future__ import annotations

from pacemail.pacemaker.runner import Runner, local

TIMEOUT = 30.0


def wait(seconds: float, *, run: Runner = local) -> None:
    """Until the cluster has no transition pending or running (``crm_resource --wait``);
    CommandError when it has not settled within ``seconds``."""
    run(["crm_resource", "--wait", "--timeout", f"{seconds:.0f}s"], timeout=seconds + 20)


def cleanup(resource: str | None = None, *, run: Runner = local, timeout: float = 60.0) -> None:
    """Forget the failures of ``resource`` (of every resource without one) and re-probe."""
    run(["crm_resource", "--cleanup"] + (["--resource", resource] if resource else []),
        timeout=timeout)


def move(resource: str, node: str, *, run: Runner = local, timeout: float = TIMEOUT) -> None:
    """Move ``resource`` to ``node``: a ``cli-prefer-`` constraint, until :func:`clear`."""
    run(["crm_resource", "--resource", resource, "--move", "--node", node], timeout=timeout)


def clear(resource: str, *, run: Runner = local, timeout: float = TIMEOUT) -> None:
    """Remove the move and ban constraints the command line left on ``resource``."""
    run(["crm_resource", "--resource", resource, "--clear"], timeout=timeout)


def set_meta(resource: str, name: str, value: str, *, run: Runner = local,
             timeout: float = TIMEOUT) -> None:
    """Set the meta attribute ``name`` of ``resource``."""
    run(["crm_resource", "--resource", resource, "--meta", "--set-parameter", name,
         "--parameter-value", value], timeout=timeout)
