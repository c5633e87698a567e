"""Every id of a CIB, once.

Names are unique where the description gives them, but ids are also derived
from names (``pm-web-instance_attributes``, ``pm-web-monitor-10s``,
``pm-fl-node1-1``) or fixed (``pm-cluster-options``), and a resource called
``web-instance_attributes`` would take the id of ``web``'s parameters. Walking
the CIB itself leaves no rule for deriving an id unchecked.
"""

from __future__ import annotations

from lxml import etree


def duplicates(cib: etree._Element) -> list[tuple[str, str]]:
    """(id, owner) for each id met again, the owner being the id of the element directly
    under a configuration section that holds the second one."""
    seen: set[str] = set()
    out = []
    for section in cib.find("configuration"):
        for top in section:
            for element in top.iter():
                element_id = element.get("id")
                if element_id is None:
                    continue
                if element_id in seen:
                    out.append((element_id, top.get("id", "")))
                seen.add(element_id)
    return out
