"""The one adapter to Pacemaker's command-line tools.

Everything pacemail asks of crm_verify, crm_simulate, cibadmin and crm_mon goes
through here, each tool call in one function, over :func:`pacemail.proc.run`.
Callers pass and get CIB XML as bytes and plain records; nothing else in the
controller knows a tool's flags or output format.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from pacemail.proc import CommandError, run

TIMEOUT = 120.0


# The cluster-facing functions (get_cib, push_patch, mon) take ``run``: a callable
# with the signature of pacemail.proc.run (argv, *, timeout, check, input). The
# default talks to the cluster of this machine; ``cib_file_runner`` points them
# at a CIB file, and the lab passes one that runs the tool inside a lab node.
# The offline tools (crm_verify, crm_simulate) read files and run here.
Runner = Callable[..., subprocess.CompletedProcess]


def cib_file_runner(path: str | Path) -> Runner:
    """A runner whose cibadmin and crm_mon read and write the CIB file ``path`` (``CIB_file``)."""
    env = dict(os.environ, CIB_file=str(path))
    return functools.partial(run, env=env)


def capped(run: Runner, limit: float) -> Runner:
    """``run`` with no call allowed more than ``limit`` seconds.

    For the daemon: pacemakerd kills a CIB manager that has not answered its
    liveness checks for about 30 s, so a cycle that waits as long on a hung one
    learns nothing sooner than the cluster does.
    """
    def run_capped(argv, *, timeout: float, **kwargs):
        return run(argv, timeout=min(timeout, limit), **kwargs)
    return run_capped


def get_cib(timeout: float = 30.0, *, run: Runner = run) -> bytes:
    """The running cluster's CIB (raises CommandError when there is no cluster)."""
    return run(["cibadmin", "--query"], timeout=timeout).stdout.encode("utf-8", "surrogateescape")


def cib_header(timeout: float = 30.0, *, run: Runner = run) -> dict[str, str]:
    """The ``<cib>`` element's attributes alone (version, ``dc-uuid``, ``have-quorum``): a cheap read."""
    done = run(["cibadmin", "--query", "--xpath", "/cib", "--no-children"], timeout=timeout)
    return dict(etree.fromstring(done.stdout.encode("utf-8", "surrogateescape")).attrib)


def get_configuration(timeout: float = 30.0, *, run: Runner = run) -> bytes:
    """``cibadmin --query --scope configuration``: the CIB without its status (much smaller)."""
    return run(["cibadmin", "--query", "--scope", "configuration"],
               timeout=timeout).stdout.encode("utf-8", "surrogateescape")


def local_node_id(timeout: float = 30.0, *, run: Runner = run) -> str:
    """``crm_node --cluster-id``: this node's id, as the CIB's ``dc-uuid`` names nodes."""
    return run(["crm_node", "--cluster-id"], timeout=timeout).stdout.strip()


@dataclass(frozen=True)
class Verification:
    returncode: int
    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


def verify(cib: bytes, timeout: float = TIMEOUT) -> Verification:
    """``crm_verify --xml-file``: schema and configuration check of a CIB."""
    with _cib_file(cib) as path:
        done = run(["crm_verify", "--xml-file", str(path), "-VV"], timeout=timeout, check=False)
    lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    errors = tuple(line for line in lines if re.search(r"\berror:|Errors found", line))
    warnings = tuple(line for line in lines if re.search(r"\bwarning:|Warnings found", line))
    if done.returncode != 0 and not errors and not warnings:
        errors = (f"crm_verify exited {done.returncode}",) + tuple(lines[-3:])
    return Verification(done.returncode, errors, warnings)


@dataclass(frozen=True)
class Action:
    """One action of a transition: ``resource`` (primitive id) ``op`` on ``node``."""

    resource: str
    op: str
    node: str


@dataclass(frozen=True)
class Simulation:
    actions: tuple[Action, ...]                      # in the order crm_simulate executed them
    placement: dict[str, tuple[tuple[str, str], ...]]  # resource id -> ((node, role), ...) after
    cib_after: bytes                                 # input for the next simulation
    inputs: dict[Action, frozenset[Action]] = field(repr=False)  # action -> direct prerequisites

    def requires(self, later: Action, earlier: Action) -> bool:
        """Does the transition graph make ``later`` wait for ``earlier`` (directly or not)?"""
        seen: set[Action] = set()
        todo = [later]
        while todo:
            for prerequisite in self.inputs.get(todo.pop(), ()):
                if prerequisite == earlier:
                    return True
                if prerequisite not in seen:
                    seen.add(prerequisite)
                    todo.append(prerequisite)
        return False


def simulate(cib: bytes, *, nodes_up: tuple[str, ...] = (), nodes_fail: tuple[str, ...] = (),
             ops_fail: tuple[str, ...] = (), quorum: bool | None = None, at: str | None = None,
             timeout: float = TIMEOUT) -> Simulation:
    """``crm_simulate --simulate``: the transition the scheduler computes, and its outcome.

    ``ops_fail``: operations that fail when the transition runs them, as crm_simulate's
    ``--op-fail`` spells them (``pm-proxysql_start_0@node1=5``). ``at``: the scheduler's
    clock (ISO 8601), for time-based rules.
    """
    with tempfile.TemporaryDirectory(prefix="pacemail-sim-") as tmp:
        folder = Path(tmp)
        (folder / "in.xml").write_bytes(cib)
        argv = ["crm_simulate", "--xml-file", str(folder / "in.xml"), "--simulate",
                "--save-graph", str(folder / "graph.xml"), "--save-output", str(folder / "out.xml"),
                "--output-as=xml"]
        argv += [f"--node-up={n}" for n in nodes_up] + [f"--node-fail={n}" for n in nodes_fail]
        argv += [f"--op-fail={op}" for op in ops_fail]
        if quorum is not None:
            argv.append(f"--quorum={'true' if quorum else 'false'}")
        if at is not None:
            argv.append(f"--set-datetime={at}")
        done = run(argv, timeout=timeout)
        result = etree.fromstring(done.stdout.encode("utf-8", "surrogateescape"))
        graph = etree.parse(str(folder / "graph.xml")).getroot()
        cib_after = (folder / "out.xml").read_bytes()
    return Simulation(_transition(result), _placement(result), cib_after, _inputs(graph))


def transition(cib: bytes, timeout: float = TIMEOUT) -> tuple[Action, ...]:
    """``crm_simulate --run``: the actions of the transition the scheduler computes for ``cib``,
    from its graph, without simulating their execution (many times faster on a large CIB)."""
    with tempfile.TemporaryDirectory(prefix="pacemail-sim-") as tmp:
        folder = Path(tmp)
        (folder / "in.xml").write_bytes(cib)
        run(["crm_simulate", "--xml-file", str(folder / "in.xml"), "--run",
             "--save-graph", str(folder / "graph.xml")], timeout=timeout)
        graph = etree.parse(str(folder / "graph.xml")).getroot()
    return tuple(_graph_action(a) for a in graph.iterfind("synapse/action_set/*")
                 if a.tag == "rsc_op" or (a.tag == "crm_event" and a.get("operation") == "stonith"))


def _transition(result: etree._Element) -> tuple[Action, ...]:
    out = []
    for element in result.iterfind("transition/*"):
        if element.tag == "rsc_action":
            out.append(Action(_primitive(element.get("resource")), element.get("op"), element.get("node")))
        elif element.tag == "fence_action":
            out.append(Action("", "fence", element.get("target")))
    return tuple(out)


def _placement(result: etree._Element) -> dict[str, tuple[tuple[str, str], ...]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for resource in result.iterfind("revised_cluster_status/resources//resource"):
        places = out.setdefault(resource.get("id"), [])
        places += [(n.get("name"), resource.get("role")) for n in resource.iterfind("node")]
    return {rid: tuple(sorted(places)) for rid, places in out.items()}


def _inputs(graph: etree._Element) -> dict[Action, frozenset[Action]]:
    """Graph actions are numbered; a synapse's inputs name their prerequisites by number."""
    by_id = {a.get("id"): _graph_action(a) for a in graph.iterfind("synapse/action_set/*")}
    out: dict[Action, frozenset[Action]] = {}
    for synapse in graph.iterfind("synapse"):
        prerequisites = frozenset(by_id[t.get("id")] for t in synapse.iterfind("inputs/trigger/*")
                                  if t.get("id") in by_id)
        for a in synapse.iterfind("action_set/*"):
            target = by_id[a.get("id")]
            out[target] = out.get(target, frozenset()) | prerequisites
    return out


def _graph_action(element: etree._Element) -> Action:
    if element.tag == "crm_event" and element.get("operation") == "stonith":
        return Action("", "fence", element.get("on_node", ""))
    if element.tag == "rsc_op":
        primitive = element.find("primitive")
        return Action(_primitive(primitive.get("id")), element.get("operation"),
                      element.get("on_node", ""))
    # pseudo events (clone start/promote, notifications): named by operation key
    return Action(element.get("operation_key", ""), element.get("operation", ""), element.get("on_node", ""))


def _primitive(resource: str) -> str:
    """``pm-drbd:1`` (a clone instance) -> ``pm-drbd``."""
    return resource.split(":", 1)[0]


class Conflict(Exception):
    """The CIB is no longer at the version a patch was computed against."""


# cibadmin says CRM_EX_OLD (103) when the CIB is newer than the patch's source,
# CRM_EX_DIGEST (104) or "update diff failed" when it is older or does not fit.
_CONFLICT_CODES = (103, 104)


def push_patch(patch: bytes, timeout: float = TIMEOUT, *, run: Runner = run) -> None:
    """``cibadmin --patch``: apply a versioned patchset; :class:`Conflict` if the base moved."""
    done = run(["cibadmin", "--patch", "--xml-pipe"], timeout=timeout, check=False,
               input=patch.decode("utf-8", "surrogateescape"))
    if done.returncode in _CONFLICT_CODES or "update diff failed" in done.stderr:
        raise Conflict((done.stderr or done.stdout).strip())
    if done.returncode != 0:
        raise CommandError(done.args, done.returncode, done.stdout, done.stderr)


def mon(timeout: float = 30.0, *, run: Runner = run) -> bytes:
    """``crm_mon --one-shot --output-as=xml`` with the full fencing history."""
    return run(["crm_mon", "--one-shot", "--output-as=xml", "--fence-history=3"],
               timeout=timeout).stdout.encode("utf-8", "surrogateescape")


class _cib_file:
    """A CIB written to a temporary file, removed afterwards."""

    def __init__(self, cib: bytes):
        self.cib = cib

    def __enter__(self) -> Path:
        self.tmp = tempfile.TemporaryDirectory(prefix="pacemail-cib-")
        path = Path(self.tmp.name) / "cib.xml"
        path.write_bytes(self.cib)
        return path

    def __exit__(self, *exc) -> None:
        self.tmp.cleanup()


# One CIB element at a time, for the DRBD fence handlers (pacemail.fencing):
# they change exactly their own constraint and never replace a whole section,
# so a handler racing the controller or another handler cannot undo its work.

_NO_SUCH = 105      # CRM_EX_NOSUCH: nothing matches the xpath
_EXISTS = 108       # CRM_EX_EXISTS: --create of an id already in the CIB


def cib_element(xpath: str, timeout: float = 30.0, *, run: Runner = run) -> bytes | None:
    """``cibadmin --query --xpath``: the matching element, None when there is none."""
    done = run(["cibadmin", "--query", "--xpath", xpath], timeout=timeout, check=False)
    if done.returncode == _NO_SUCH:
        return None
    if done.returncode != 0:
        raise CommandError(done.args, done.returncode, done.stdout, done.stderr)
    return done.stdout.encode("utf-8", "surrogateescape")


def cib_create(scope: str, xml: str, timeout: float = 30.0, *, run: Runner = run) -> bool:
    """``cibadmin --create``: add ``xml`` under ``scope``; False when its id already exists."""
    done = run(["cibadmin", "--create", "--scope", scope, "--xml-text", xml],
               timeout=timeout, check=False)
    if done.returncode == _EXISTS:
        return False
    if done.returncode != 0:
        raise CommandError(done.args, done.returncode, done.stdout, done.stderr)
    return True


def cib_replace(xpath: str, xml: str, timeout: float = 30.0, *, run: Runner = run) -> None:
    """``cibadmin --replace --xpath``: replace the one element at ``xpath`` with ``xml``."""
    run(["cibadmin", "--replace", "--xpath", xpath, "--xml-text", xml], timeout=timeout)


def cib_delete(xpath: str, timeout: float = 30.0, *, run: Runner = run) -> None:
    """``cibadmin --delete --xpath``: remove the element at ``xpath`` (none there is fine)."""
    run(["cibadmin", "--delete", "--xpath", xpath], timeout=timeout)


def fence_node(node: str, *, action: str = "reboot", timeout: float = 90.0,
               run: Runner = run) -> None:
    """``stonith_admin --reboot|--fence NODE``: returns once the fencer confirms success."""
    flag = {"reboot": "--reboot", "off": "--fence"}[action]
    seconds = max(1, int(timeout))
    run(["stonith_admin", flag, node, "--timeout", str(seconds)], timeout=seconds + 15)


def controller_reachable(node: str, timeout: float = 5.0, *, run: Runner = run) -> bool:
    """``crmadmin --status NODE``: does NODE's controller answer through the cluster now?"""
    done = run(["crmadmin", "--status", node, "--timeout", f"{int(timeout * 1000)}ms"],
               timeout=timeout + 5, check=False)
    return done.returncode == 0 and done.stdout.rstrip().endswith("ok")
