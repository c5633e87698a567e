"""An agent's declaration rendered for readers: OCF 1.1 meta-data XML and a markdown reference.

Imported only by the ``meta-data`` action and the docs, so lxml never loads
on a monitor. The XML follows the OCF 1.1 resource-agent API; it is checked
against pcs's schema (/usr/share/pcs/data/ocf-1.1.rng), which is what
``pcs resource describe`` and ``pcs resource create`` validate.
"""

from __future__ import annotations

from lxml import etree

OCF_VERSION = "1.1"


def render_xml(agent) -> str:
    """The meta-data document Pacemaker, pcs and crmsh read from ``<agent> meta-data``."""
    root = etree.Element("resource-agent", name=agent.name, version=agent.version)
    etree.SubElement(root, "version").text = OCF_VERSION
    _descriptions(root, agent.shortdesc, agent.longdesc)
    params = etree.SubElement(root, "parameters")
    for p in agent.params:
        params.append(_parameter(p))
    actions = etree.SubElement(root, "actions")
    for action in agent.advertised():
        for attrs in action_entries(agent, action):
            etree.SubElement(actions, "action", attrs)
    # No encoding in the declaration and ASCII with character references:
    # crmsh parses the text as a str, which lxml refuses when it declares an
    # encoding, and the agent's output encoding depends on Pacemaker's locale.
    body = etree.tostring(root, encoding="us-ascii", xml_declaration=False, pretty_print=True)
    return '<?xml version="1.0"?>\n' + body.decode("ascii")


def _descriptions(parent, shortdesc: str, longdesc: str) -> None:
    etree.SubElement(parent, "longdesc", lang="en").text = longdesc
    etree.SubElement(parent, "shortdesc", lang="en").text = shortdesc


def _parameter(p):
    attrs = {"name": p.name}
    if p.required:
        attrs["required"] = "1"
    if p.unique_group:
        attrs["unique-group"] = p.unique_group
    if p.reloadable:
        attrs["reloadable"] = "1"
    element = etree.Element("parameter", attrs)
    _descriptions(element, p.shortdesc, p.longdesc)
    content = etree.SubElement(element, "content", type=p.type)
    if p.default is not None:
        content.set("default", p.default)
    for value in p.values:
        etree.SubElement(content, "option", value=value)
    return element


def action_entries(agent, action) -> list[dict[str, str]]:
    """One ``<action>`` per advertised operation; a promotable monitor has one per role.
    The controller's operations come from here too: the agent is their one source."""
    attrs = {"name": action.name, "timeout": f"{action.timeout}s"}
    if action.depth is not None:
        attrs["depth"] = str(action.depth)
    if action.interval is None:
        return [attrs]
    if action.promoted_interval is None or not agent.promotable:
        return [{**attrs, "interval": f"{action.interval}s"}]
    return [{**attrs, "interval": f"{action.promoted_interval}s", "role": "Promoted"},
            {**attrs, "interval": f"{action.interval}s", "role": "Unpromoted"}]


def render_markdown(agent) -> str:
    """A readable reference of ``ocf:pacemail:<name>``: parameters and actions."""
    lines = [f"# ocf:pacemail:{agent.name} {agent.version}", "", agent.shortdesc, "",
             agent.longdesc.strip(), "", "## Parameters", ""]
    if not agent.params:
        lines += ["(none)", ""]
    for p in agent.params:
        flags = [p.type]
        if p.required:
            flags.append("required")
        if p.default is not None:
            flags.append(f"default `{p.default}`")
        if p.values:
            flags.append("one of " + ", ".join(f"`{v}`" for v in p.values))
        if p.unique_group:
            flags.append(f"unique in group `{p.unique_group}`")
        if p.reloadable:
            flags.append("reloadable without restart")
        lines += [f"### `{p.name}`: {p.shortdesc}", "", "; ".join(flags), "",
                  p.longdesc.strip(), ""]
    lines += ["## Actions", "", "| action | timeout | interval | role |",
              "| --- | --- | --- | --- |"]
    for action in agent.advertised():
        for attrs in action_entries(agent, action):
            lines.append(f"| {attrs['name']} | {attrs['timeout']} | "
                         f"{attrs.get('interval', '')} | {attrs.get('role', '')} |")
    return "\n".join(lines) + "\n"
