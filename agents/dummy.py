"""ocf:pacemail:dummy: a resource that only remembers whether it runs, like ocf:pacemaker:Dummy.

It proves the runtime end to end (install, meta-data, probes, reload) and
gives the cluster tests something to move around that touches nothing.
"""

from __future__ import annotations

import os

from pacemail.agents.ocf import (
    OCF_ERR_INSTALLED, OCF_NOT_RUNNING, OCF_SUCCESS, Agent, OCFError, Param,
)


def _absolute(path: str) -> None:
    if not path.startswith("/"):
        raise ValueError("must be an absolute path")


AGENT = Agent(
    name="dummy",
    version="1.0",
    shortdesc="Resource that does nothing but remember whether it runs",
    longdesc=(
        "Keeps a state file while started and nothing else. It exists to test "
        "the pacemail OCF runtime and cluster behaviour without touching any "
        "service. The state file holds the current value of 'fake', so a "
        "reload is visible."
    ),
    params=[
        Param("state", unique_group="state", check=_absolute,
              shortdesc="State file",
              longdesc="Absolute path of the file that exists while the resource "
                       "runs. Default: /run/pacemail-dummy-<resource instance>.state"),
        Param("fake", default="dummy", reloadable=True,
              shortdesc="Value written to the state file",
              longdesc="Any text; changing it reloads the agent instead of restarting it."),
    ],
)


def state_file(ctx) -> str:
    return ctx.params["state"] or f"/run/pacemail-dummy-{ctx.instance or 'default'}.state"


@AGENT.running_check
def is_running(ctx) -> bool:
    return os.path.exists(state_file(ctx))


@AGENT.action("validate-all", timeout=20)
def validate(ctx) -> int:
    folder = os.path.dirname(state_file(ctx))
    if not os.path.isdir(folder):
        raise OCFError(OCF_ERR_INSTALLED, f"state folder {folder} does not exist on this node")
    return OCF_SUCCESS


def _write_state(ctx) -> None:
    path = state_file(ctx)
    with open(path + ".tmp", "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(ctx.params["fake"] + "\n")
    os.replace(path + ".tmp", path)


@AGENT.action("start", timeout=20)
def start(ctx) -> int:
    _write_state(ctx)
    return OCF_SUCCESS


@AGENT.action("stop", timeout=20)
def stop(ctx) -> int:
    try:
        os.unlink(state_file(ctx))
    except FileNotFoundError:
        pass
    return OCF_SUCCESS


@AGENT.action("monitor", timeout=20, interval=10, depth=0)
def monitor(ctx) -> int:
    return OCF_SUCCESS if is_running(ctx) else OCF_NOT_RUNNING


@AGENT.action("reload-agent", timeout=20)
def reload_agent(ctx) -> int:
    if is_running(ctx):
        _write_state(ctx)
    return OCF_SUCCESS
