"""Running an installed ocf:pacemail agent action inside a lab node, as Pacemaker's executor would."""

from __future__ import annotations

from pacemail.agents.install import agent_path, default_root
from pacemail.lab.nodes import node_run

BASE = ("OCF_ROOT=/usr/lib/ocf", "HA_LOGFACILITY=none")


def run_action(lab, node: str, agent: str, action: str, params: dict, *, interval_ms=None,
               check_level=None, env=(), timeout: float = 60):
    """The completed process of ``agent action`` run in ``node`` with ``params`` as OCF_RESKEY_*."""
    argv = ["env", *BASE, f"OCF_RESOURCE_INSTANCE=test-{agent}", *env]
    argv += [f"OCF_RESKEY_{k}={v}" for k, v in params.items()]
    if interval_ms is not None:
        argv.append(f"OCF_RESKEY_CRM_meta_interval={interval_ms}")
    if check_level is not None:
        argv.append(f"OCF_CHECK_LEVEL={check_level}")
    argv += [str(agent_path(default_root(), agent)), action]
    return node_run(lab.name, node, argv, timeout=timeout, check=False)


def exit_reasons(stderr: str) -> list[str]:
    return [line.split(":", 1)[1] for line in stderr.splitlines()
            if line.startswith("ocf-exit-reason:")]
