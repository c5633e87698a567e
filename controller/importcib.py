"""A CIB's elements read into what a description can hold, and what each one loses.

The generic part of ``pacemail import`` (``importer.py``): name-value sets,
constraints and single values, each held against the check the description's
reader applies to it (``values.py``), so whatever is read here parses again. Nothing is dropped quietly: an element a description cannot
hold at all (a rule, a resource set, a template, an ACL) *stays* in the CIB as
it is, and an element the description takes over but without some part of
it (an operation's ``on-fail``, a second rule-bound set) *loses* that part;
:class:`Reading` records both as warnings naming the element's id and why,
and the final :meth:`Reading.unaccounted` sweep catches any element no reader
claimed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from pacemail.controller import cibxml, values
from pacemail.controller.extra import LEGACY_ROLES, ROLES
from pacemail.controller.model import Colocation, Constraint, Order, RscLocation
from pacemail.controller.problems import Location, Problem, Severity
from pacemail.controller.values import Invalid

ELSEWHERE = {"acls": "a description holds no access control lists",
             "tags": "a description holds no tags", "alerts": "a description holds no alerts"}
ACTIONS = ("start", "stop", "promote", "demote")
# What each constraint's attributes may be for a description to hold it.
CONSTRAINT_ATTRIBUTES = {
    "rsc_location": {"id", "rsc", "node", "score", "role"},
    "rsc_colocation": {"id", "rsc", "with-rsc", "score", "rsc-role", "with-rsc-role", "influence"},
    "rsc_order": {"id", "first", "then", "first-action", "then-action", "kind", "symmetrical", "score"},
}
REQUIRED = {"rsc_location": ("rsc", "node"), "rsc_colocation": ("rsc", "with-rsc"),
            "rsc_order": ("first", "then")}
# A constraint's attribute naming a resource -> the record's field holding it.
FIELDS = {"rsc": "resource", "with-rsc": "with_resource", "first": "first", "then": "then"}


def name_of(e: etree._Element) -> str:
    """The description name of a CIB element: its id, pacemail's own without ``pm-``."""
    return e.get("id").removeprefix(cibxml.PREFIX) if cibxml.is_owned(e) else e.get("id")


@dataclass
class Reading:
    """What one import found: problems, conversions, and the elements it accounts for."""

    source: str
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)   # non-pacemail ids the description takes over
    sections: dict[str, str] = field(default_factory=dict)   # replaced id -> its CIB section
    accounted: set[str] = field(default_factory=set)
    stayed: list = field(default_factory=list)            # elements left in the CIB as they are

    def where(self, e: etree._Element | None) -> Location:
        if e is None:
            return Location(self.source)
        return Location(self.source, e.sourceline, e.get("id", e.tag))

    def warn(self, e, message: str) -> None:
        self.problems.append(Problem(Severity.WARNING, self.where(e), message))

    def error(self, e, message: str) -> None:
        self.problems.append(Problem(Severity.ERROR, self.where(e), message))

    def note(self, message: str) -> None:
        self.notes.append(message)

    def takes(self, e: etree._Element) -> None:
        """The description reproduces ``e``; a non-pacemail one is replaced when moving over
        (listed when it is a section's own element, or an option: the rest goes with it)."""
        self.accounted.add(e.get("id"))
        above = e.getparent().getparent()
        top = above is not None and (above.tag == "configuration" or above.tag == "crm_config")
        if top and not cibxml.is_owned(e):
            self.replaced.append(e.get("id"))
            self.sections[e.get("id")] = e.getparent().tag

    def stays(self, e: etree._Element, why: str) -> None:
        self.accounted.add(e.get("id"))
        self.stayed.append(e)
        self.warn(e, f"not in the description: {why}; it stays in the CIB as it is")

    def loses(self, e: etree._Element, part: str, why: str) -> None:
        self.warn(e, f"imported without {part}: {why}")

    def unaccounted(self, configuration: etree._Element) -> None:
        """The net under every reader: each element no reader took or left is named."""
        for section in _elements(configuration):
            for e in section:
                if isinstance(e.tag, str) and e.get("id") not in self.accounted:
                    self.stays(e, ELSEWHERE.get(section.tag, f"pacemail import does not know "
                                                             f"<{e.tag}> in <{section.tag}>"))


def _elements(configuration: etree._Element):
    for section in configuration:
        if not isinstance(section.tag, str) or section.tag == "nodes":
            continue
        if section.tag == "crm_config":
            yield from section   # options are taken one by one
        else:
            yield section


# -- values ------------------------------------------------------------------------

def checked(r: Reading, owner, label: str, value: str, check=None) -> str | None:
    """``value`` as the description's reader takes it; None (and the loss recorded) if not."""
    try:
        out = values.xml_text(value)
        out = check(out) if check else out
    except Invalid as exc:
        r.loses(owner, label, f"{values.shown(value)} is no value a description takes ({exc})")
        return None
    if out != value:
        r.note(f"{owner.get('id')}: {label} {values.shown(value)} is written {values.shown(out)}")
    return out


def role(r: Reading, owner, label: str, value: str | None) -> str | None:
    """A role in Pacemaker 2.1's names; ``Master``/``Slave`` renamed (noted)."""
    if value in LEGACY_ROLES:
        r.note(f"{owner.get('id')}: role {value} is written {LEGACY_ROLES[value]} (Pacemaker 2.1's name)")
        return LEGACY_ROLES[value]
    if value is not None and value not in ROLES:
        raise Invalid(f"{label}: unknown role {values.shown(value)}")
    return value


def pairs(r: Reading, owner, tag: str, checks: dict | None = None, sets=None) -> dict[str, str]:
    """The name-value pairs of ``owner``'s ``tag`` sets (or of ``sets``), merged as Pacemaker
    reads them: sets by descending score, the first value of a name wins. A set with a rule or
    a reference has no place in a description."""
    usable = []
    for s in owner.findall(tag) if sets is None else sets:
        odd = sorted(set(s.attrib) - {"id", "score"}) + [c.tag for c in s if isinstance(c.tag, str)
                                                        and c.tag != "nvpair"]
        if odd:
            r.loses(owner, f"{tag} {s.get('id')}", f"a set with {', '.join(odd)} (a rule or a "
                                                   "reference) has no place in a description")
        else:
            usable.append(s)
    usable.sort(key=lambda s: -values.score_number(s.get("score", "0")))
    out: dict[str, str] = {}
    for s in usable:
        for nv in s.iterfind("nvpair"):
            name, value = nv.get("name"), nv.get("value")
            label = f"{tag} {name}"
            if set(nv.attrib) - {"id", "name", "value"} or name is None or value is None:
                r.loses(owner, f"nvpair {nv.get('id')}", "a reference or a name without a value")
            elif name in out:
                r.loses(owner, f"the second {label}", "Pacemaker reads the first one only")
            elif not values.ATTRIBUTE_NAME.fullmatch(name):
                r.loses(owner, label, f"a description's names are {values.ATTRIBUTE_TEXT}")
            else:
                check = (checks or {}).get(name)
                text_value = checked(r, owner, label, value, check)
                if text_value is not None:
                    out[name] = text_value
    return out


# -- constraints ---------------------------------------------------------------------

def constraint(r: Reading, e, ref) -> Constraint | None:
    """A location, colocation or order as the description's record, its resources named by
    ``ref(id, attribute, action)`` (None: not in the description); None when it cannot be held."""
    allowed = CONSTRAINT_ATTRIBUTES.get(e.tag)
    if allowed is None:
        r.stays(e, f"a description has no <{e.tag}>")
        return None
    odd = sorted(set(e.attrib) - allowed) + list(dict.fromkeys(c.tag for c in e if isinstance(c.tag, str)))
    if odd:
        r.stays(e, f"its {', '.join(odd)}: a description's constraints have no rules, resource "
                   "sets, lifetimes, patterns or instances")
        return None
    name = name_of(e)
    absent = [a for a in REQUIRED[e.tag] if not e.get(a)]
    if absent:
        r.stays(e, f"it has no {', '.join(absent)}; a description's {e.tag} needs them")
        return None
    try:
        score = values.score(e.get("score", "INFINITY"))
        if e.tag == "rsc_location":
            node = e.get("node", "")
            if not values.NODE_NAME.fullmatch(node):
                raise Invalid(f"node {values.shown(node)}")
            return _refs(r, e, RscLocation(name, _ref(ref, e, "rsc"), node, score,
                                           role(r, e, "role", e.get("role"))))
        if e.tag == "rsc_colocation":
            influence = values.boolean(e.get("influence", "true")) == "true"
            return _refs(r, e, Colocation(name, _ref(ref, e, "rsc"), _ref(ref, e, "with-rsc"), score,
                                          role(r, e, "rsc-role", e.get("rsc-role")),
                                          role(r, e, "with-rsc-role", e.get("with-rsc-role")),
                                          influence))
        return _order(r, e, name, ref)
    except Invalid as exc:
        r.stays(e, f"{exc} is no value a description takes")
        return None


def _order(r: Reading, e, name: str, ref) -> Order | None:
    first_action, then_action = e.get("first-action", "start"), e.get("then-action", "start")
    if first_action not in ACTIONS or then_action not in ACTIONS:
        raise Invalid(f"actions {first_action}/{then_action}")
    kind = e.get("kind")
    if kind is None and "score" in e.attrib:   # Pacemaker 1.x: score 0 was Optional
        kind = "Optional" if values.score_number(e.get("score")) == 0 else "Mandatory"
        r.note(f"{e.get('id')}: order score {e.get('score')} is written kind {kind}")
    elif "score" in e.attrib:
        r.loses(e, "its score", "kind decides, Pacemaker ignores the score")
    kind = kind or "Mandatory"
    if kind not in ("Mandatory", "Optional", "Serialize"):
        raise Invalid(f"kind {values.shown(kind)}")
    symmetric = values.boolean(e.get("symmetrical", "false" if kind == "Serialize" else "true"))
    if symmetric != ("false" if kind == "Serialize" else "true"):
        r.stays(e, f"symmetrical={e.get('symmetrical')} has no place in a description's orders")
        return None
    first = _ref(ref, e, "first", first_action)
    then = _ref(ref, e, "then", then_action)
    return _refs(r, e, Order(name, first, then, first_action, then_action, kind))


def _ref(ref, e, attribute: str, action: str = "start") -> str | None:
    return ref(e.get(attribute, ""), attribute, action)


def _refs(r: Reading, e, record):
    """``record`` unless one of its resources is not in the description."""
    fields = {RscLocation: ("rsc",), Colocation: ("rsc", "with-rsc"), Order: ("first", "then")}
    missing = [e.get(a) for a in fields[type(record)] if getattr(record, FIELDS[a]) is None]
    if missing:
        r.stays(e, f"it names {', '.join(missing)}, which the description does not hold")
        return None
    return record


# What refers to what: deleting the replaced elements in this order never leaves a
# reference to a deleted one, which the CIB's schema refuses (cibadmin: "Update does
# not conform to the configured schema").
DELETE_ORDER = ("constraints", "fencing-topology", "resources")


def deletion_order(replaced: list[str], sections: dict[str, str]) -> tuple[str, ...]:
    """``replaced`` with references before what they refer to."""
    rank = {section: i for i, section in enumerate(DELETE_ORDER)}
    return tuple(sorted(replaced, key=lambda i: rank.get(sections.get(i, ""), len(rank))))

