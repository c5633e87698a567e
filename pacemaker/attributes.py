"""``crm_attribute``: promotion scores, node standby and cluster properties.

The DRBD agent sets its promotion score from its monitor, so this module
imports only the standard library and :mod:`pacemail.proc` (through
:mod:`pacemail.pacemaker.runner`). Errors are data where the caller decides
what a failure means: :func:`set_promotion` returns why it failed.
"""

from __future__ import annotations

from pacemail.pacemaker.runner import Runner, failed, local

TIMEOUT = 30.0
PROMOTION_TIMEOUT = 10.0


def set_promotion(score: int | None, *, run: Runner = local,
                  timeout: float = PROMOTION_TIMEOUT) -> str | None:
    """This node's promotion score of the resource the agent runs for (``crm_attribute
    --promotion``, a reboot-lifetime attribute); None deletes it. Returns why it failed,
    None on success."""
    argv = ["crm_attribute", "--promotion", "-l", "reboot"]
    argv += ["-D"] if score is None else ["-v", str(score)]
    done = run(argv, timeout=timeout, check=False)
    return None if done.returncode == 0 else str(failed(done))


def get_promotion(resource: str, node: str, *, run: Runner = local,
                  timeout: float = TIMEOUT) -> str | None:
    """``resource``'s promotion score on ``node`` as Pacemaker holds it; None when it has none."""
    done = run(["crm_attribute", "--promotion", resource, "-G", "-q", "-N", node],
               timeout=timeout, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def standby(node: str, *, run: Runner = local, timeout: float = TIMEOUT) -> bool:
    """Is ``node`` in standby (its permanent ``standby`` attribute ``on``)?"""
    done = run(["crm_attribute", "--type", "nodes", "--node", node, "--name", "standby",
                "--query", "--quiet"], timeout=timeout, check=False)
    return done.stdout.strip() == "on"


def set_standby(node: str, on: bool, *, run: Runner = local, timeout: float = TIMEOUT) -> None:
    """Put ``node`` in standby (``on``) or take it out."""
    run(["crm_attribute", "--type", "nodes", "--node", node, "--name", "standby",
         "--update", "on" if on else "off"], timeout=timeout)


def set_property(name: str, value: str, *, set_name: str | None = None, run: Runner = local,
                 timeout: float = TIMEOUT) -> None:
    """A cluster property (``crm_config``), in the property set ``set_name`` if given."""
    run(_property(name, set_name) + ["--update", value], timeout=timeout)


def delete_property(name: str, *, set_name: str | None = None, run: Runner = local,
                    timeout: float = TIMEOUT) -> None:
    """Remove a cluster property (none there is fine)."""
    run(_property(name, set_name) + ["--delete"], timeout=timeout)


def _property(name: str, set_name: str | None) -> list[str]:
    return (["crm_attribute", "--type", "crm_config"]
            + (["--set-name", set_name] if set_name else []) + ["--name", name])
