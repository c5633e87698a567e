"""Imports flow one way between pacemail's packages, so no cycle can form.

The layers, lowest first::

    core (pacemail: proc, runlock, namespaces, ...)
      <- pacemaker (every Pacemaker and corosync tool call, and the parse of its output)
      <- agents, fencing
      <- controller
      <- lab, vms  <-  drills, host
      <- cli (the only package that imports lab, drills and vms together)

A package may import its own modules and those of the layers below it, never
one above. Within a layer:

* agents may import fencing, fencing never agents: the DRBD agent asks the
  quorum guard (pacemail.fencing.guard) before a promotion, and the guard
  decides for every caller (the agent, ``pacemail fencing guard``); fencing
  takes its log from its caller rather than importing the agents' Log.
* drills and host may import lab and vms (they run against either target, and
  the doctor cleans both); lab and vms never import each other: what both need
  (the drills' mail settings, network namespaces) lives in core.

Every ``import`` counts, module-level or inside a function: a lazy import is
still an edge of the graph. cib_templates holds data only; anyone may load it.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BELOW_CONTROLLER = {"core", "cib_templates", "pacemaker", "agents", "fencing"}
TARGETS = BELOW_CONTROLLER | {"controller"}
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "cib_templates": set(),
    "pacemaker": {"core"},
    "fencing": {"core", "pacemaker"},
    "agents": {"core", "pacemaker", "fencing"},
    "controller": BELOW_CONTROLLER,
    "lab": TARGETS,
    "vms": TARGETS,
    "drills": TARGETS | {"lab", "vms"},
    "host": TARGETS | {"lab", "vms"},
    "cli": TARGETS | {"lab", "vms", "drills", "host"},
}


def packages() -> dict[str, Path]:
    """pyproject's package-dir: package name -> its folder."""
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return {name: ROOT / folder for name, folder in setup["package-dir"].items()}


def layer(module: str) -> str | None:
    """The layer of a pacemail module (``pacemail.pacemaker.cib`` -> pacemaker); None outside."""
    parts = module.split(".")
    if parts[0] != "pacemail":
        return None
    if len(parts) > 1 and parts[1] in ALLOWED and parts[1] != "core":
        return parts[1]
    return "core"


def module_name(package: str, folder: Path, path: Path) -> str:
    parts = list(path.relative_to(folder).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def imported(tree: ast.AST, module: str, is_package: bool):
    """(line, imported module) for every import in ``tree``, functions' bodies included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                # `from pacemail import drillmail` imports pacemail.drillmail
                yield node.lineno, f"{base}.{alias.name}" if base == "pacemail" else base


def violations() -> list[str]:
    found = []
    for package, folder in packages().items():
        for path in sorted(folder.rglob("*.py")):
            module = module_name(package, folder, path)
            mine = layer(module)
            tree = ast.parse(path.read_text(), str(path))
            for line, target in imported(tree, module, path.name == "__init__.py"):
                theirs = layer(target)
                if theirs is None or theirs == mine or theirs in ALLOWED[mine]:
                    continue
                found.append(f"{path.relative_to(ROOT)}:{line}: {module} imports {target}: "
                             f"{mine} -> {theirs} is against the layers "
                             f"({mine} may import {', '.join(sorted(ALLOWED[mine])) or 'nothing'})")
    return found


def test_every_package_has_a_layer():
    assert {layer(name) for name in packages()} <= set(ALLOWED)
    assert {name.removeprefix("pacemail.") for name in packages() if name != "pacemail"} \
        == set(ALLOWED) - {"core"}


def test_imports_only_go_down_the_layers():
    assert violations() == []


def test_the_check_sees_lazy_and_relative_imports():
    source = ("from . import cib\n"
              "def f():\n"
              "    from pacemail.controller import plan\n"
              "    import pacemail.lab.nodes\n")
    found = list(imported(ast.parse(source), "pacemail.pacemaker.status", False))
    assert found == [(1, "pacemail.pacemaker"), (3, "pacemail.controller"),
                     (4, "pacemail.lab.nodes")]
    assert [layer(m) for _, m in found] == ["pacemaker", "controller", "lab"]
