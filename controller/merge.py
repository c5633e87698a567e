"""Live CIB + desired CIB -> merged CIB: pacemail's part replaced, the rest untouched.

Pure lxml, no tools. Owned elements (see ``cibxml.is_owned``) are compared
per configuration section by id: an unchanged element keeps its place and
bytes, a changed one is replaced where it stands, a new one is appended, an
owned one the description no longer has is removed. Everything else (other
users' resources and constraints, ``cli-ban-*``, ``drbd-fence-by-handler-*``,
``cib-bootstrap-options``, nodes, status) is never looked at beyond its id.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from lxml import etree

from pacemail.controller import cibxml

# configuration section -> the child tags pacemail may own there. ``nodes`` is
# the cluster layer's and deliberately absent.
SECTIONS: dict[str, tuple[str, ...]] = {
    "crm_config": ("cluster_property_set",),
    "resources": ("primitive", "group", "clone", "bundle"),
    "constraints": ("rsc_location", "rsc_colocation", "rsc_order", "rsc_ticket"),
    "fencing-topology": ("fencing-level",),
    "rsc_defaults": ("meta_attributes",),
    "op_defaults": ("meta_attributes",),
    "alerts": ("alert",),
}
VERSION = ("admin_epoch", "epoch", "num_updates")

Version = tuple[int, int, int]


@dataclass(frozen=True)
class Edit:
    """One owned element the merge adds, changes or removes (``old``/``new`` None when absent)."""

    section: str
    id: str
    old: etree._Element | None
    new: etree._Element | None

    @property
    def action(self) -> str:
        return "add" if self.old is None else "remove" if self.new is None else "change"


@dataclass(frozen=True)
class Merged:
    cib: etree._Element            # the live CIB with the edits made, version bumped if any
    edits: tuple[Edit, ...]
    collisions: tuple[str, ...]    # ids the description wants that a non-pacemail element holds


def version(cib: etree._Element | dict[str, str]) -> Version:
    """The version of a CIB (or of the ``<cib>`` attributes ``pacemaker.cib.header`` gives)."""
    return tuple(int(cib.get(a, "0")) for a in VERSION)  # type: ignore[return-value]


def owned(section: etree._Element) -> list[etree._Element]:
    tags = SECTIONS.get(section.tag, ())
    return [e for e in section if e.tag in tags and cibxml.is_owned(e)]


def same(a: etree._Element, b: etree._Element) -> bool:
    """Equal as configuration: tags, attributes (any order) and children (in order)."""
    return _canonical(a) == _canonical(b)


def _canonical(e: etree._Element):
    return (e.tag, tuple(sorted(e.attrib.items())),
            tuple(_canonical(c) for c in e if isinstance(c.tag, str)))


def merge(live: etree._Element, desired: etree._Element) -> Merged:
    """The merged CIB (a copy; ``live`` is not modified)."""
    cib = copy.deepcopy(live)
    configuration = cib.find("configuration")
    edits: list[Edit] = []
    collisions: list[str] = []
    for name in SECTIONS:
        want = desired.find(f"configuration/{name}")
        have = configuration.find(name)
        wanted = [] if want is None else owned(want)
        if have is None:
            if not wanted:
                continue
            have = etree.SubElement(configuration, name)
        present = {e.get("id"): e for e in owned(have)}
        foreign = {e.get("id") for e in have.iter() if e.get("id") and e.get("id") not in present}
        for element in wanted:
            eid = element.get("id")
            old = present.pop(eid, None)
            if old is None:
                if eid in foreign:
                    collisions.append(eid)
                    continue
                have.append(copy.deepcopy(element))
                edits.append(Edit(name, eid, None, element))
            elif not same(old, element):
                have.replace(old, copy.deepcopy(element))
                edits.append(Edit(name, eid, old, element))
        for eid, old in present.items():
            have.remove(old)
            edits.append(Edit(name, eid, old, None))
    if edits:
        cib.set("epoch", str(version(live)[1] + 1))
        cib.set("num_updates", "0")
        _raise_schema(cib, desired.get("validate-with"))
    return Merged(cib, tuple(edits), tuple(collisions))


def _raise_schema(cib: etree._Element, needed: str) -> None:
    """A live CIB on an older schema than the description needs moves up to it."""
    def number(schema: str) -> tuple[int, ...]:
        try:
            return tuple(int(p) for p in schema.split("-")[-1].split("."))
        except ValueError:
            return ()
    if number(cib.get("validate-with", "")) < number(needed):
        cib.set("validate-with", needed)
