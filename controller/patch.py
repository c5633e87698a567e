"""A Pacemaker v2 patchset between two CIBs' configurations, computed here (no crm_diff).

The patch works element by element one level below the configuration
sections (a primitive, a constraint, a property set): an element that is new
or changed is created at its place in the new CIB (a changed one is deleted
first), one that is gone is deleted; a whole section is created or deleted
when one side lacks it. The ``<cib>`` element gets the new epoch.

Epoch safety: the patch names the version it applies to, ``admin_epoch`` and
``epoch`` of the CIB the plan was made from and ``num_updates`` of ``header``,
the ``<cib>`` attributes read just before the push; the CIB manager refuses it
once the live CIB is at any other version. Every configuration change bumps
the epoch, so a patch whose epoch still matches changes a configuration that
is exactly the one planned against; status updates in between only need a
fresh header (``num_updates``), not a new plan. The ``<cib>`` attributes the
patch sets are the header's (``dc-uuid``, ``have-quorum`` as they are now),
except the version and ``validate-with``.
"""

from __future__ import annotations

import copy

from lxml import etree

from pacemail.controller.merge import VERSION, same

BUMPED = ("epoch", "num_updates", "validate-with")


def patchset(old: etree._Element, new: etree._Element, header: dict[str, str]) -> bytes:
    """The patch from ``old`` to ``new`` (whole CIBs; only ``configuration`` is compared)."""
    if [old.get(a) for a in VERSION[:2]] != [header.get(a) for a in VERSION[:2]]:
        raise ValueError("the header is not of the CIB the patch is computed from")
    diff = etree.Element("diff", format="2")
    versions = etree.SubElement(diff, "version")
    etree.SubElement(versions, "source", {a: header.get(a, "0") for a in VERSION})
    etree.SubElement(versions, "target", {a: new.get(a, "0") for a in VERSION})
    root = _change(diff, "modify", "/cib")
    attributes = dict(header, **{a: new.get(a) for a in BUMPED if new.get(a) is not None})
    etree.SubElement(etree.SubElement(root, "change-result"), "cib", attributes)
    _children(diff, "/cib/configuration", old.find("configuration"), new.find("configuration"),
              depth=2)
    return etree.tostring(diff, encoding="UTF-8")


def _children(diff, path: str, old: etree._Element, new: etree._Element, depth: int) -> None:
    """Deletes, then creates at their final positions, of ``old``'s and ``new``'s children."""
    have = {_key(c): c for c in old if isinstance(c.tag, str)}
    want = {_key(c): c for c in new if isinstance(c.tag, str)}
    kept = [k for k in have if k in want]
    if kept != [k for k in want if k in have]:
        raise ValueError(f"{path}: elements changed order")  # the merge never reorders
    for key, element in have.items():
        if key not in want:
            _change(diff, "delete", _path(path, key))
    creates = []
    for position, element in enumerate(new):
        key = _key(element) if isinstance(element.tag, str) else None
        if key is None:
            continue
        if key not in have:
            creates.append((position, element))
        elif depth > 1:
            _children(diff, _path(path, key), have[key], element, depth - 1)
        elif not same(have[key], element):
            _change(diff, "delete", _path(path, key))
            creates.append((position, element))
    for position, element in creates:
        _change(diff, "create", path, position=str(position)).append(_copy(element))


def _key(element: etree._Element) -> tuple[str, str | None]:
    return element.tag, element.get("id")


def _path(parent: str, key: tuple[str, str | None]) -> str:
    tag, eid = key
    return f"{parent}/{tag}" + (f"[@id='{eid}']" if eid is not None else "")


def _change(diff, operation: str, path: str, **attributes: str) -> etree._Element:
    return etree.SubElement(diff, "change", operation=operation, path=path, **attributes)


def _copy(element: etree._Element) -> etree._Element:
    out = copy.deepcopy(element)
    out.tail = None
    return out
