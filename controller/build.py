"""Description -> CIB: the pure function behind ``pacemail render``.

Same description, byte-identical XML: no clocks, no hostnames, no set
iteration; everything comes in the order the description and ``stack.py``
give it. The result is a complete ``<cib>`` with an empty status section.
"""

from __future__ import annotations

from lxml import etree

from pacemail.controller import cibxml
from pacemail.controller.model import Description
from pacemail.controller.stack import expand

# Pacemaker 2.1 syntax (Promoted/Unpromoted roles) needs schema 3.7 or later.
SCHEMA = "pacemaker-3.7"


def build_cib(d: Description) -> etree._Element:
    cib = etree.Element("cib", {"validate-with": SCHEMA, "admin_epoch": "0",
                                "epoch": "0", "num_updates": "0"})
    configuration = etree.SubElement(cib, "configuration")
    crm_config = etree.SubElement(configuration, "crm_config")
    cibxml.nvset(crm_config, "cluster_property_set", cibxml.owned_id("cluster-options"),
                 (("cluster-name", d.name),) + d.options)
    nodes = etree.SubElement(configuration, "nodes")
    for n in d.nodes:
        nodes.append(cibxml.node(n))
    expanded = expand(d)
    resources = etree.SubElement(configuration, "resources")
    for r in expanded.resources:
        resources.append(cibxml.resource(r))
    constraints = etree.SubElement(configuration, "constraints")
    for c in expanded.constraints:
        constraints.append(cibxml.constraint(c))
    if expanded.fencing_levels:
        topology = etree.SubElement(configuration, "fencing-topology")
        for level in expanded.fencing_levels:
            topology.append(cibxml.fencing_level(level))
    window = d.placement.failback_window
    for tag, name, pairs in (("rsc_defaults", "rsc-defaults", d.resource_defaults),
                             ("op_defaults", "op-defaults", d.operation_defaults)):
        section = etree.SubElement(configuration, tag)
        if window and tag == "rsc_defaults":
            cibxml.failback_window(section, window)
        if pairs:
            main = cibxml.nvset(section, "meta_attributes", cibxml.owned_id(name), pairs)
            if window and tag == "rsc_defaults":
                main.set("score", "1")   # below the window's set
    if d.alerts:
        alerts = etree.SubElement(configuration, "alerts")
        for a in d.alerts:
            alerts.append(cibxml.alert(a, d.name))
    etree.SubElement(cib, "status")
    return cib


def to_xml(cib: etree._Element) -> bytes:
    return etree.tostring(cib, pretty_print=True, encoding="UTF-8", xml_declaration=False)


def render(d: Description) -> bytes:
    return to_xml(build_cib(d))
