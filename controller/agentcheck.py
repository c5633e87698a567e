"""Resource parameters checked against the agents' own declarations.

pacemail's agents declare their parameters in code
(``pacemail.agents.<type>.AGENT``); the controller asks them instead of
keeping a copy that could drift. An ``ocf:pacemail:X`` agent whose module
this pacemail does not ship yet gets a WARNING, not a failure.
"""

from __future__ import annotations

import importlib

from pacemail.controller.model import Clone, Group, Primitive, Resource
from pacemail.controller.problems import Location, Problem, Severity

PACKAGE = "pacemail.agents"


def check(resources: tuple[Resource, ...]) -> list[Problem]:
    problems: list[Problem] = []
    unavailable: set[str] = set()
    for p in _primitives(resources):
        if p.agent.standard != "ocf" or p.agent.provider != "pacemail":
            continue
        where = p.where or Location("<description>")
        agent = _agent(p.agent.type)
        if agent is None:
            if p.agent.type not in unavailable:
                unavailable.add(p.agent.type)
                problems.append(Problem(Severity.WARNING, where,
                                        f"parameters of {p.agent} not checked: agent not available in this pacemail"))
            continue
        problems += [Problem(Severity.ERROR, where, f"{p.name} ({p.agent}): {message}")
                     for message in agent.check_params(dict(p.params))]
    return problems


def _agent(name: str):
    module_name = f"{PACKAGE}.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    return module.AGENT


def _primitives(resources):
    for r in resources:
        if isinstance(r, Primitive):
            yield r
        elif isinstance(r, Group):
            yield from r.members
        elif isinstance(r, Clone):
            yield from _primitives((r.member,))
