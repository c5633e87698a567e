"""Reading YAML with line numbers: typed accessors over PyYAML's composed node tree.

PyYAML's ``safe_load`` forgets where a value came from. Composing the node
tree instead keeps every node's start mark, so each problem can name the
file, the line and the dotted key path (``services.postfix[1].config_dir``).
Accessors never raise: a bad value records an ERROR and returns ``None``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pacemail.controller.problems import Location, Problem, Severity

_constructor = yaml.constructor.SafeConstructor()
# libyaml's loader keeps the same marks and composes a large file ~10x faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def child(path: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{path}[{name}]"
    return f"{path}.{name}" if path else name


class Reader:
    """Collects problems for one file while the schema walks its nodes."""

    def __init__(self, file: str):
        self.file = file
        self.problems: list[Problem] = []

    def location(self, node: Node | None, path: str) -> Location:
        line = node.start_mark.line + 1 if node is not None else None
        return Location(self.file, line, path)

    def error(self, node: Node | None, path: str, message: str) -> None:
        self.problems.append(Problem(Severity.ERROR, self.location(node, path), message))

    def warning(self, node: Node | None, path: str, message: str) -> None:
        self.problems.append(Problem(Severity.WARNING, self.location(node, path), message))

    def compose(self, text: str) -> Node | None:
        try:
            return yaml.compose(text, Loader=_LOADER)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else None
            self.problems.append(Problem(Severity.ERROR, Location(self.file, line),
                                         f"not valid YAML: {exc.problem or exc}"))
        except yaml.YAMLError as exc:
            self.problems.append(Problem(Severity.ERROR, Location(self.file), f"not valid YAML: {exc}"))
        return None

    # -- shapes -------------------------------------------------------------

    def mapping(self, node: Node, path: str, allowed: Iterable[str] | None = None,
                required: Iterable[str] = ()) -> Section | None:
        if not isinstance(node, MappingNode):
            self.error(node, path, f"expected a mapping (key: value lines), got {_kind(node)}")
            return None
        allowed = list(allowed) if allowed is not None else None
        entries: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.error(key_node, path, "keys must be plain names")
                continue
            key = str(_constructor.construct_object(key_node))
            if key in entries:
                self.error(key_node, child(path, key), f"duplicate key '{key}'")
                continue
            if allowed is not None and key not in allowed:
                hint = difflib.get_close_matches(key, allowed, n=1)
                expected = f"did you mean '{hint[0]}'?" if hint else "expected one of: " + ", ".join(allowed)
                self.error(key_node, child(path, key), f"unknown key '{key}'; {expected}")
                continue
            entries[key] = (key_node, value_node)
        section = Section(self, node, path, entries)
        for key in required:
            if key not in entries:
                self.error(node, child(path, key), f"missing required key '{key}'")
        return section

    def sequence(self, node: Node, path: str) -> list[Node] | None:
        if not isinstance(node, SequenceNode):
            self.error(node, path, f"expected a list (lines starting with '- '), got {_kind(node)}")
            return None
        return list(node.value)

    # -- scalars ------------------------------------------------------------

    def scalar(self, node: Node, path: str):
        if not isinstance(node, ScalarNode):
            self.error(node, path, f"expected a single value, got {_kind(node)}")
            return None
        return _constructor.construct_object(node)

    def string(self, node: Node, path: str, pattern: re.Pattern | None = None,
               expected: str = "") -> str | None:
        value = self.scalar(node, path)
        if value is None:
            if isinstance(node, ScalarNode):
                self.error(node, path, f"expected {expected or 'a value'}, got nothing")
            return None
        if isinstance(value, (bool, dict, list)):
            self.error(node, path, f"expected {expected or 'text'}, got {_show(value)}")
            return None
        text = str(value)
        if pattern is not None and not pattern.fullmatch(text):
            self.error(node, path, f"expected {expected}, got {text!r}")
            return None
        return text

    def integer(self, node: Node, path: str, low: int | None = None,
                high: int | None = None) -> int | None:
        value = self.scalar(node, path)
        span = _span(low, high)
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(node, ScalarNode):
                self.error(node, path, f"expected a whole number{span}, got {_show(value)}")
            return None
        if (low is not None and value < low) or (high is not None and value > high):
            self.error(node, path, f"expected a whole number{span}, got {value}")
            return None
        return value

    def boolean(self, node: Node, path: str) -> bool | None:
        value = self.scalar(node, path)
        if not isinstance(value, bool):
            if isinstance(node, ScalarNode):
                self.error(node, path, f"expected true or false, got {_show(value)}")
            return None
        return value

    def attributes(self, node: Node, path: str) -> dict[str, str] | None:
        """A name: value mapping of Pacemaker attributes, values as Pacemaker spells them."""
        section = self.mapping(node, path)
        if section is None:
            return None
        out: dict[str, str] = {}
        for name in section.keys():
            value = self.scalar(section.node(name), section.path(name))
            if value is None:
                if isinstance(section.node(name), ScalarNode):
                    self.error(section.node(name), section.path(name), "expected a value, got nothing")
                continue
            out[name] = pacemaker_value(value)
        return out


class Section:
    """One mapping of the description: its present keys, their nodes and paths."""

    def __init__(self, reader: Reader, node: MappingNode, path: str,
                 entries: dict[str, tuple[Node, Node]]):
        self.reader = reader
        self.node_ = node
        self.path_ = path
        self.entries = entries

    def keys(self) -> list[str]:
        return list(self.entries)

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def node(self, key: str) -> Node | None:
        entry = self.entries.get(key)
        return entry[1] if entry else None

    def key_node(self, key: str) -> Node:
        entry = self.entries.get(key)
        return entry[0] if entry else self.node_

    def path(self, key: str) -> str:
        return child(self.path_, key)

    def get(self, key: str, read, default=None, **kwargs):
        """``read(node, path, **kwargs)`` for a present key, ``default`` for an absent one."""
        node = self.node(key)
        if node is None:
            return default
        return read(node, self.path(key), **kwargs)


def pacemaker_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _span(low, high) -> str:
    if low is not None and high is not None:
        return f" from {low} to {high}"
    if low is not None:
        return f" of at least {low}"
    return ""


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return _show(_constructor.construct_object(node))


def _show(value) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)
