"""Resource parameters checked against the agents' own declarations.

pacemail's agents declare their parameters in code
(``pacemail.agents.<type>.AGENT``); the controller asks them instead of
keeping a copy that could drift. An ``ocf:pacemail:X`` agent whose module
this pacemail does not ship yet gets a WARNING, not a failure. Only the
agents of ``pacemail.agents.NAMES`` are imported: an agent type is a word of
the description, never a module path to load.

An agent names its own parameter in a problem (``parameter options: ...``);
the admin wrote a key of the description (``storage.mount_options``), so the
problem is put where that key is written and says which parameter it became.
"""

from __future__ import annotations

import re

from pacemail.agents import NAMES, load
from pacemail.controller.model import Clone, Group, Primitive, Resource
from pacemail.controller.problems import Location, Problem, Severity

# How an agent's problems name their parameter (pacemail.agents.ocf.Agent.parse_params).
_PARAMETER = re.compile(r"parameter (?P<name>[A-Za-z0-9_]+)(?P<colon>: )?|unknown parameter "
                        r"'(?P<unknown>[A-Za-z0-9_]+)'", re.ASCII)


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
        problems += [_placed(p, message) for message in agent.check_params(dict(p.params))]
    return problems


def _placed(p: Primitive, message: str) -> Problem:
    """The agent's problem at the description key its parameter came from, when known."""
    m = _PARAMETER.match(message)
    param = m and (m["name"] or m["unknown"])
    where = dict(p.param_where).get(param) if param else None
    if where is None:
        return Problem(Severity.ERROR, p.where or Location("<description>"),
                       f"{p.name} ({p.agent}): {message}")
    detail = message[m.end():] if m["colon"] else message
    return Problem(Severity.ERROR, where, f"{detail} ({p.agent} parameter {param} of {p.name})")


def default(agent: str, param: str):
    """The default ``ocf:pacemail:<agent>`` declares for ``param``: a description's own
    default for a key that becomes that parameter is read here, never copied."""
    return next(p.default for p in _agent(agent).params if p.name == param)


def _agent(name: str):
    if name not in NAMES:
        return None
    return load(name)


def _primitives(resources):
    for r in resources:
        if isinstance(r, Primitive):
            yield r
        elif isinstance(r, Group):
            yield from r.members
        elif isinstance(r, Clone):
            yield from _primitives((r.member,))
