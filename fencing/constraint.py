"""The fencing constraint: Promoted only where the data is known UpToDate.

Shape (ids as in LINBIT's crm-fence-peer, which admins search for)::

    <rsc_location id="drbd-fence-by-handler-RES-CLONE" rsc="CLONE">
      <rule id="drbd-fence-by-handler-RES-rule-CLONE" role="Promoted"
            score="-INFINITY" boolean-op="and">
        <expression id="drbd-fence-by-handler-RES-expr-0-CLONE"
                    attribute="#uname" operation="ne" value="node1"/>
      </rule>
    </rsc_location>

"not Promoted on any node whose name is not one of the allowed": one ``ne``
expression per allowed node. The id carries the DRBD resource, so each
resource fences and unfences on its own even when several share a clone.
The id does not start with ``pm-``: the controller's apply leaves it alone.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

ID_PREFIX = "drbd-fence-by-handler"
PROMOTED_ROLES = ("Promoted", "Master")  # Master: the name before Pacemaker 2.1


def constraint_id(resource: str, clone: str) -> str:
    return f"{ID_PREFIX}-{resource}-{clone}"


def xpath(resource: str, clone: str) -> str:
    """The one element a handler touches."""
    return f"/cib/configuration/constraints/rsc_location[@id='{constraint_id(resource, clone)}']"


@dataclass(frozen=True)
class Fence:
    """A fencing constraint: ``clone`` may be Promoted only on ``allowed`` nodes."""

    resource: str
    clone: str
    allowed: frozenset[str]

    def xml(self) -> str:
        cid = constraint_id(self.resource, self.clone)
        location = ET.Element("rsc_location", {"id": cid, "rsc": self.clone})
        rule = ET.SubElement(location, "rule", {
            "id": f"{ID_PREFIX}-{self.resource}-rule-{self.clone}", "role": "Promoted",
            "score": "-INFINITY", "boolean-op": "and"})
        for index, node in enumerate(sorted(self.allowed)):
            ET.SubElement(rule, "expression", {
                "id": f"{ID_PREFIX}-{self.resource}-expr-{index}-{self.clone}",
                "attribute": "#uname", "operation": "ne", "value": node})
        return ET.tostring(location, encoding="unicode")

    def rejects(self, node: str) -> bool:
        return node not in self.allowed


def parse(resource: str, text: str) -> Fence | None:
    """The fence an existing ``rsc_location`` says, or None when it is not of our shape.

    Accepts LINBIT's handler's constraints too (role ``Master``, other id
    suffixes), so a cluster switching handlers keeps its fences.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None
    location = root if root.tag == "rsc_location" else root.find(".//rsc_location")
    if location is None or not location.get("rsc"):
        return None
    rules = location.findall("rule")
    if len(rules) != 1:
        return None
    rule = rules[0]
    if (rule.get("role") not in PROMOTED_ROLES or rule.get("score") != "-INFINITY"
            or rule.get("boolean-op", "and") != "and"):
        return None
    allowed = set()
    for expression in rule:
        if (expression.tag != "expression" or expression.get("attribute") != "#uname"
                or expression.get("operation") != "ne"):
            return None
        allowed.add(expression.get("value", ""))
    if not allowed:
        return None
    return Fence(resource, location.get("rsc"), frozenset(allowed))
