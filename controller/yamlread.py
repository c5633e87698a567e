"""Reading YAML with line numbers: typed accessors over PyYAML's composed node tree.

PyYAML's ``safe_load`` forgets where a value came from. Composing the node
tree instead keeps every node's start mark, so each problem can name the
file, the line and the dotted key path (``services.postfix[1].config_dir``).
Accessors never raise: a bad value records an ERROR and returns ``None``.

Nothing is constructed by PyYAML: a scalar is taken as the text written, its
YAML type read from the node's tag, and held against a check of ``values``.
So a tag names no code (``!foo`` and ``!!int notanumber`` are errors, not
exceptions), a number is never rewritten (``0x1F`` stays ``0x1F`` where a name
is expected, and is no whole number where one is), and every text, keys
included, is one an XML attribute can hold.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pacemail.controller import values
from pacemail.controller.problems import Location, Problem, Severity
from pacemail.controller.values import Invalid, shown

# libyaml's loader keeps the same marks and composes a large file ~10x faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()
_CORE = "tag:yaml.org,2002:"
_SCALARS = ("str", "int", "float", "bool", "null", "timestamp")
_DECIMAL = re.compile(r"[+-]?[0-9]{1,18}", re.ASCII)
_BAD = object()     # a scalar already reported as wrong
LISTED = 12         # an unknown key's message lists the known ones up to this many


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
        if not self._plain_tag(node, path, "map"):
            return None
        allowed = list(allowed) if allowed is not None else None
        entries: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, path)
            if key is None:
                continue
            if key in entries:
                first = entries[key][0].start_mark.line + 1
                self.error(key_node, child(path, _label(key)), f"duplicate key {shown(key)} (first on line {first})")
                continue
            if allowed is not None and key not in allowed:
                hint = difflib.get_close_matches(key, allowed, n=1)
                expected = (f"did you mean '{hint[0]}'?" if hint else
                            "expected one of: " + ", ".join(allowed) if len(allowed) <= LISTED else
                            f"not one of the {len(allowed)} names this section takes")
                self.error(key_node, child(path, _label(key)), f"unknown key {shown(key)}; {expected}")
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
        if not self._plain_tag(node, path, "seq"):
            return None
        return list(node.value)

    def _plain_tag(self, node: Node, path: str, kind: str) -> bool:
        if node.tag != _CORE + kind:
            self.error(node, path, f"the YAML tag {shown(node.tag)} has no meaning in a description")
            return False
        return True

    def _key(self, node: Node, path: str) -> str | None:
        if isinstance(node, ScalarNode):
            path = child(path, _label(node.value))
        value = self._value(node, path) if isinstance(node, ScalarNode) else None
        if value is None or value is _BAD:
            if value is None:
                self.error(node, path, "keys must be plain names")
            return None
        return node.value

    # -- scalars ------------------------------------------------------------

    def _value(self, node: Node, path: str):
        """A scalar as None, a bool, an int (decimal ASCII digits) or the text as written;
        ``_BAD`` once its problem is recorded."""
        if not isinstance(node, ScalarNode):
            self.error(node, path, f"expected a single value, got {_kind(node)}")
            return _BAD
        kind = node.tag.removeprefix(_CORE) if node.tag.startswith(_CORE) else None
        if kind not in _SCALARS:
            self.error(node, path, f"the YAML tag {shown(node.tag)} has no meaning in a description")
            return _BAD
        if kind != "str" and _RESOLVER.resolve(ScalarNode, node.value, (True, False)) != node.tag:
            self.error(node, path, f"{shown(node.value)} is not a YAML {kind}")
            return _BAD
        try:
            values.xml_text(node.value)
        except Invalid as exc:
            self.error(node, path, f"expected {exc}, got {shown(node.value)}")
            return _BAD
        if kind == "null":
            return None
        if kind == "bool":
            return node.value.lower() in ("true", "yes", "on")
        if kind == "int" and _DECIMAL.fullmatch(node.value):
            return int(node.value)
        return node.value

    def scalar(self, node: Node, path: str):
        """None, a bool, an int or the text as written; None also after an error."""
        value = self._value(node, path)
        return None if value is _BAD else value

    def unique_strings(self, node: Node, path: str, count: Callable[[int], str | None],
                       **check) -> tuple[str, ...] | None:
        """A list of strings, each read as :meth:`string` reads it with ``check``; ``count``
        says what is wrong with the list's length (None: nothing), and an item listed twice
        is an error at the second."""
        items = self.sequence(node, path)
        if items is None:
            return None
        problem = count(len(items))
        if problem:
            self.error(node, path, problem)
        out: list[str] = []
        for i, item in enumerate(items):
            value = self.string(item, child(path, i), **check)
            if value in out:
                self.error(item, child(path, i), f"{value!r} is listed twice")
            elif value is not None:
                out.append(value)
        return tuple(out)

    def string(self, node: Node, path: str, pattern: re.Pattern | None = None,
               expected: str = "", check: Callable[[str], str] | None = None) -> str | None:
        """The text as written (a YAML number included), matching ``pattern`` and passing
        ``check`` (a ``values`` check, whose result is returned)."""
        value = self._value(node, path)
        if value is _BAD:
            return None
        if value is None or isinstance(value, bool):
            self.error(node, path, f"expected {expected or 'text'}, got {_show(value)}")
            return None
        text = node.value
        if pattern is not None and not pattern.fullmatch(text):
            self.error(node, path, f"expected {expected}, got {shown(text)}")
            return None
        return self._checked(node, path, text, check)

    def _checked(self, node: Node, path: str, text: str, check) -> str | None:
        if check is None:
            return text
        try:
            return check(text)
        except values.Refused as exc:
            self.error(node, path, str(exc))
        except Invalid as exc:
            self.error(node, path, f"expected {exc}, got {shown(text)}")
        return None

    def integer(self, node: Node, path: str, low: int | None = None,
                high: int | None = None) -> int | None:
        value = self._value(node, path)
        if value is _BAD:
            return None
        if node.tag != _CORE + "int":
            self.error(node, path, f"expected a whole number{values.span_text(low, high)}, got {_show(value)}")
            return None
        try:
            return values.integer(node.value, low, high)
        except Invalid as exc:
            self.error(node, path, f"expected {exc}, got {shown(node.value)}")
            return None

    def boolean(self, node: Node, path: str) -> bool | None:
        value = self._value(node, path)
        if value is _BAD:
            return None
        if not isinstance(value, bool):
            self.error(node, path, f"expected true or false, got {_show(value)}")
            return None
        return value

    def attributes(self, node: Node, path: str, checks: Mapping[str, Callable[[str], str]] = {},
                   only_checked: bool = False, value_check: Callable[[str], str] | None = None
                   ) -> dict[str, str] | None:
        """A name: value mapping of Pacemaker attributes, values as Pacemaker spells them.

        A name in ``checks`` has its value checked by its check, any other by
        ``value_check``; with ``only_checked`` other names are unknown keys.
        """
        section = self.mapping(node, path, checks if only_checked else None)
        if section is None:
            return None
        out: dict[str, str] = {}
        for name in section.keys():
            if not values.ATTRIBUTE_NAME.fullmatch(name):
                self.error(section.key_node(name), section.path(name),
                           f"expected {values.ATTRIBUTE_TEXT} as a name, got {shown(name)}")
                continue
            value_node = section.node(name)
            value = self._value(value_node, section.path(name))
            if value is _BAD:
                continue
            if value is None:
                self.error(value_node, section.path(name), "expected a value, got nothing")
                continue
            text = self._checked(value_node, section.path(name), _pacemaker_text(value, value_node),
                                 checks.get(name, value_check))
            if text is not None:
                out[name] = text
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
        return child(self.path_, _label(key))

    def locations(self) -> tuple[tuple[str, Location], ...]:
        """Where each key is written, the keys of a ``params`` mapping as ``params.NAME``."""
        out = []
        for key, (key_node, value_node) in self.entries.items():
            out.append((key, self.reader.location(key_node, self.path(key))))
            if key == "params" and isinstance(value_node, MappingNode):
                out += [(f"params.{k.value}", self.reader.location(k, child(self.path(key), k.value)))
                        for k, _ in value_node.value if isinstance(k, ScalarNode)]
        return tuple(out)

    def get(self, key: str, read, default=None, **kwargs):
        """``read(node, path, **kwargs)`` for a present key, ``default`` for an absent one."""
        node = self.node(key)
        if node is None:
            return default
        return read(node, self.path(key), **kwargs)


def _pacemaker_text(value, node: ScalarNode) -> str:
    """A YAML boolean as Pacemaker spells it; anything else as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return node.value


def _label(key: str) -> str:
    """A key as a problem's key path shows it: a long one cut."""
    return key if len(key) <= values.SHOWN else key[:values.SHOWN] + "..."


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return "nothing" if node.tag == _CORE + "null" else shown(node.value)


def _show(value) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    return shown(value) if isinstance(value, str) else str(value)
