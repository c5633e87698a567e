"""``crm_simulate``: what the scheduler would do with a CIB, and its scores on a live cluster.

:func:`simulate` and :func:`transition` run on CIB bytes written to a
temporary folder here (``run`` runs here); :func:`live_scores` asks a node's
running cluster.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from pacemail.pacemaker.runner import Runner, local, output

TIMEOUT = 120.0


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
             run: Runner = local, timeout: float = TIMEOUT) -> Simulation:
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
        result = etree.fromstring(output(run(argv, timeout=timeout)))
        graph = etree.parse(str(folder / "graph.xml")).getroot()
        cib_after = (folder / "out.xml").read_bytes()
    return Simulation(_transition(result), _placement(result), cib_after, _inputs(graph))


def transition(cib: bytes, *, run: Runner = local, timeout: float = TIMEOUT) -> tuple[Action, ...]:
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


def live_scores(*, run: Runner = local, timeout: float = 60.0) -> list[str]:
    """``crm_simulate --live-check --show-scores``: the scheduler's score lines for the running
    cluster (``pm-drbd:0 promotion score on node2: 10000``, ``... allocation score on ...``)."""
    done = run(["crm_simulate", "--live-check", "--show-scores"], timeout=timeout)
    return [line.strip() for line in done.stdout.splitlines() if " score on " in line]


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
