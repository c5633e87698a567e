"""``pacemail import``: a hand-built cluster's CIB -> the description that reproduces it.

Pure: CIB XML in, description text and problems out (``cli/importcmd.py``
reads the CIB and prints). The mail stack is found by ``importstack.py`` and
rendered with pacemail's agents, because that is what a description means;
everything else becomes ``extra:`` as it is, names from the CIB's ids
(pacemail's own ``pm-`` elements without the prefix, so a pacemail CIB comes
back as the description it was rendered from). Every element is accounted
for (``importcib.Reading``): taken over by the description, or left in the
CIB with a warning saying why.

The description is built in two passes through the description's own reader
(``description.parse``): the stack, fencing and options first, so that the
names pacemail takes and the constraints its tree makes are known; then the
CIB's constraints are held against those. One equal to a constraint of the
tree (or a fence device's) is reproduced; one between the same resources
that says something else gives way to the tree (noted); any other becomes an
``extra:`` constraint. The text returned is the one that parsed.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, replace

import yaml
from lxml import etree

from pacemail.controller import agentcheck, cibxml, description, fencerace, stack, values
from pacemail.controller.importcib import Reading, deletion_order, pairs
from pacemail.controller.importextra import Extra, refs
from pacemail.controller.importfence import fencing
from pacemail.controller.importgraph import PROMOTED
from pacemail.controller.importops import Timings
from pacemail.controller.importstack import Stack, find
from pacemail.controller.model import Description
from pacemail.controller.problems import Problem, errors

PACEMAKER_OWN = ("dc-version", "cluster-infrastructure", "have-watchdog", "last-lrm-refresh")
OUTPUT = "imported description"
# What Pacemaker's schema gives an id, and import names things by.
NEED_IDS = ("(crm_config/*|crm_config/*/nvpair|nodes/*|resources//*[self::primitive or self::group or "
            "self::clone or self::master or self::bundle or self::template]|resources/*|constraints/*|"
            "fencing-topology/*|rsc_defaults/*|op_defaults/*|tags/*|acls/*|alerts/*)[not(@id)]")


@dataclass(frozen=True)
class Imported:
    text: str                          # the description, its header comments included ("": none)
    description: Description | None    # ``text`` as ``load`` reads it; None with any error
    problems: tuple[Problem, ...]
    notes: tuple[str, ...]             # each conversion on the way
    replaced: tuple[str, ...]          # ids of the CIB's own elements the description takes over


def import_cib(xml: bytes, source: str = "CIB", output: str = OUTPUT) -> Imported:
    """The description reproducing the CIB ``xml`` (``source`` names it in problems, ``output``
    names the description)."""
    r = Reading(source)
    try:
        root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        return _failed(r, f"not a CIB: not XML ({exc})")
    configuration = root.find("configuration")
    if root.tag != "cib" or configuration is None:
        return _failed(r, f"not a CIB: the root is <{root.tag}>, not <cib> with a <configuration> "
                          "(`cibadmin --query` gives one)")
    nameless = configuration.xpath(NEED_IDS)
    if nameless:
        return _failed(r, f"not a valid CIB: <{nameless[0].tag}> on line {nameless[0].sourceline} "
                          "has no id (`crm_verify --xml-file FILE` checks a CIB)")
    cluster = _cluster(r, configuration)
    nodes = _nodes(r, configuration)
    if len(nodes) < 2:
        r.error(configuration.find("nodes"), f"a description needs the cluster's nodes; the CIB "
                                             f"names {len(nodes)} (configuration/nodes)")
    timings = Timings(r, cluster.get("operation_defaults", {}).get("timeout"))
    names: dict[str, str] = {}
    fence = fencing(r, configuration, nodes, names, timings)
    found = find(r, configuration, len(nodes), timings)
    if found is None or len(nodes) < 2:
        return _failed(r)
    names |= found.names
    placement, placed = _placement(r, configuration, found, cluster, nodes)
    data = {"cluster": cluster, "nodes": _node_list(nodes), **found.sections,
            "placement": placement, "operations": timings.operations, "fencing": fence}
    first = description.parse(_body(data), output)
    if first.description is None:
        return _finished(r, root, data, output, first.problems)
    extra = Extra(r, names, set(stack.stack_names(first.description)), nodes,
                  refs(configuration, found, names), placed)
    data["extra"] = extra.read(configuration, found, stack.expand(first.description).constraints)
    r.unaccounted(configuration)
    _dangling(r, names, found.dissolved)
    return _finished(r, root, data, output)


def _failed(r: Reading, message: str | None = None) -> Imported:
    if message:
        r.error(None, message)
    return Imported("", None, tuple(r.problems), tuple(r.notes), ())


def _finished(r: Reading, root, data: dict, output: str, problems=None) -> Imported:
    """The text, parsed as ``render`` would (agents' parameters included); problems of the
    description at their lines in the whole text."""
    body = _body(data)
    parsed = description.parse(body, output)
    found = list(parsed.problems if problems is None else problems)
    if parsed.description is not None:
        found += agentcheck.check(stack.expand(parsed.description).resources)
        race = parsed.description.fence_race
        if race and race.automatic:
            r.note(fencerace.note(race))
    shift = len(_header(r, root, found).splitlines()) + 1
    found = [replace(p, location=replace(p.location, line=p.location.line + shift))
             if p.location.line else p for p in found]
    text_ = f"{_header(r, root, found)}\n{body}"
    problems = tuple(_sorted(r.problems) + found)
    return Imported(text_, None if errors(list(problems)) else parsed.description, problems,
                    tuple(r.notes), deletion_order(r.replaced, r.sections))


def _sorted(problems: list[Problem]) -> list[Problem]:
    """The CIB's problems in the order of its lines (what has none first)."""
    return sorted(problems, key=lambda p: p.location.line or 0)


# -- cluster, nodes, placement ------------------------------------------------------

def _cluster(r: Reading, configuration) -> dict:
    out: dict = {}
    options: dict[str, str] = {}
    crm = configuration.find("crm_config")
    sets = sorted((s for s in (crm if crm is not None else ()) if isinstance(s.tag, str)),
                  key=lambda s: s.get("id") != "cib-bootstrap-options")
    for s in sets:
        if s.tag != "cluster_property_set" or [c for c in s if isinstance(c.tag, str) and c.tag != "nvpair"]:
            r.accounted.update(nv.get("id") for nv in s)
            r.stays(s, "a set of options with a rule has no place in cluster.options")
            continue
        for nv in s.iterfind("nvpair"):
            _option(r, nv, out, options)
    if options:
        out["options"] = options
    for tag, key in (("rsc_defaults", "resource_defaults"), ("op_defaults", "operation_defaults")):
        found = _defaults(r, configuration.find(tag), key)
        if found:
            out[key] = found
    return out


def _option(r: Reading, nv, out: dict, options: dict) -> None:
    name, value = nv.get("name", ""), nv.get("value", "")
    if name in PACEMAKER_OWN:
        r.accounted.add(nv.get("id"))
        return
    if name in options or (name == "cluster-name" and "name" in out):
        r.stays(nv, f"Pacemaker reads the first {name} only")
        return
    try:
        if name == "cluster-name":
            if not values.NAME.fullmatch(value):
                raise values.Invalid(values.NAME_TEXT)
            out["name"] = value
        elif name not in values.CLUSTER_OPTIONS:
            raise values.Invalid("an option this Pacemaker has")
        else:
            options[name] = values.CLUSTER_OPTIONS[name](values.xml_text(value))
    except values.Invalid as exc:
        r.stays(nv, f"{name}={values.shown(value)}: expected {exc}")
        return
    r.takes(nv)


def _defaults(r: Reading, section, key: str) -> dict:
    """rsc_defaults/op_defaults: sets without rules, merged; pacemail's failback window kept
    aside for placement."""
    if section is None:
        return {}
    plain = []
    for s in section:
        if not isinstance(s.tag, str):
            continue
        if s.get("id") == "pm-failback-window" and _window(s) is not None:
            r.takes(s)
        elif s.tag != "meta_attributes" or [c for c in s if isinstance(c.tag, str) and c.tag != "nvpair"]:
            r.stays(s, f"a set with a rule has no place in cluster.{key}")
        else:
            r.takes(s)
            plain.append(s)
    return pairs(r, section, "meta_attributes", values.META, sets=plain)


def _window(s) -> dict | None:
    """The failback window pacemail renders (``cibxml.failback_window``), as its fields."""
    spec = s.find("rule/date_expression[@operation='date_spec']/date_spec")
    fields = {k: v for k, v in (spec.attrib.items() if spec is not None else ()) if k != "id"}
    stick = s.findall("nvpair")
    if not fields or set(fields) - set(description.WINDOW_FIELDS) or len(stick) != 1 \
            or (stick[0].get("name"), stick[0].get("value")) != ("resource-stickiness", "0"):
        return None
    return fields


def _nodes(r: Reading, configuration) -> list[tuple[str, int]]:
    out = []
    for i, n in enumerate(configuration.iterfind("nodes/node"), start=1):
        name, nodeid = n.get("uname", ""), n.get("id", "")
        if n.get("type", "member") not in ("member", "normal") or not values.NODE_NAME.fullmatch(name):
            r.note(f"node {n.get('id')} ({name}): not a cluster member by name; left out of nodes")
            continue
        if not (nodeid.isascii() and nodeid.isdigit() and 0 < int(nodeid) <= description.NODE_ID_MAX):
            r.note(f"node {name}: id {nodeid!r} is no corosync node id; the description gives {i}")
            nodeid = str(i)
        out.append((name, int(nodeid)))
    return out


def _node_list(nodes: list[tuple[str, int]]) -> list:
    if [i for _, i in nodes] == list(range(1, len(nodes) + 1)):
        return [name for name, _ in nodes]
    return [{"name": name, "id": i} for name, i in nodes]


def _placement(r: Reading, configuration, s: Stack, cluster: dict, nodes) -> tuple[dict, set]:
    """A positive location of the stack -> preferred_node when pacemail's score (100) against the
    stickiness moves the stack back exactly when the CIB's did; the stickiness -> failback.
    Also the ids of the locations that became the preferred node."""
    defaults = cluster.get("resource_defaults", {})
    stickiness = values.score_number(defaults.get("resource-stickiness", "0"))
    window = next(filter(None, map(_window, configuration.iterfind(
        "rsc_defaults/meta_attributes[@id='pm-failback-window']"))), None)
    out: dict = {}
    placed = set()
    for loc in configuration.iterfind("constraints/rsc_location"):
        score = values.score_number(loc.get("score", "0"))
        if not _prefers(loc, s) or len(loc) or score <= 0 or set(loc.attrib) - {
                "id", "rsc", "node", "score", "role"} or loc.get("node") not in dict(nodes):
            continue
        back = score > stickiness
        if stickiness == stack.PREFERENCE_SCORE or back != (stack.PREFERENCE_SCORE > stickiness):
            r.note(f"{loc.get('id')}: not placement.preferred_node: its score {loc.get('score')} "
                   f"{'moves' if back else 'does not move'} the stack back against resource-"
                   f"stickiness {stickiness:g}, pacemail's {stack.PREFERENCE_SCORE} would not")
            break
        out = {"preferred_node": loc.get("node"), "failback": window or back}
        placed.add(loc.get("id"))
        r.takes(loc)
        if score != stack.PREFERENCE_SCORE or loc.get("rsc") != s.mount:
            r.note(f"{loc.get('id')} -> placement.preferred_node {loc.get('node')} (pacemail's "
                   f"score {stack.PREFERENCE_SCORE} on the mount; failback: {str(back).lower()})")
        break
    if window and not out:
        out["failback"] = window
    if "resource-stickiness" not in defaults and not out:
        cluster["resource_defaults"] = {**defaults, "resource-stickiness": "0"}
        r.note("resource-stickiness: the CIB sets none (Pacemaker's 0), so the description says 0, "
               f"not pacemail's {description.NO_FAILBACK_STICKINESS}")
    if not s.priority:
        r.note("placement.priority: 0, as in the CIB (pacemail's default 10 lets the node running "
               "the mail stack win a two-node fence race)")
    return out | {"priority": s.priority}, placed


def _prefers(loc, s: Stack) -> bool:
    """A location of the whole stack: on its mount (or the group that starts with it), or on
    the DRBD clone's Promoted role."""
    if loc.get("rsc") == s.clone:
        return loc.get("role") in PROMOTED
    starts = [g for g, members in s.dissolved.items() if members[0] == s.mount]
    return loc.get("rsc") in (s.mount, *starts) and loc.get("role") in (None, "Started")


def _dangling(r: Reading, names: dict[str, str], dissolved: dict[str, list[str]]) -> None:
    """What stays in the CIB but names a resource the description takes over would name nothing
    once that one is replaced: each is named, with where to point it."""
    moved = {rid: cibxml.owned_id(name) for rid, name in names.items()
             if rid != cibxml.owned_id(name)}
    moved |= {g: moved[members[0]] for g, members in dissolved.items() if members[0] in moved}
    for e in r.stayed:
        named = {v for x in e.iter() for k, v in x.attrib.items()
                 if k in ("rsc", "with-rsc", "first", "then")
                 or (k == "id" and x.tag in ("resource_ref", "obj_ref"))}
        hits = sorted(named & set(moved))
        if hits:
            r.warn(e, "it names " + ", ".join(f"{h} (then {moved[h]})" for h in hits)
                   + ": change it when moving over, or it names nothing")


# -- the text --------------------------------------------------------------------------

def _header(r: Reading, root, problems) -> str:
    version = ".".join(root.get(a, "0") for a in ("admin_epoch", "epoch", "num_updates"))
    lines = [f"Imported by `pacemail import` from {r.source} (CIB version {version}).",
             "The mail stack runs on pacemail's agents (ocf:pacemail:*) in pacemail's tree, as in",
             "every description; each change on the way is listed. DESCRIPTION.md, \"Import\",",
             "says how to move the cluster over without restarting anything."]
    if r.notes:
        lines += ["", "Converted:"] + [f"  - {n}" for n in r.notes]
    shown = [str(p) for p in _sorted(r.problems) + list(problems)]
    if shown:
        lines += ["", "Problems (not in this description, or to check):"] + [f"  - {p}" for p in shown]
    if r.replaced:
        lines += ["", "Moving over replaces these elements of the CIB (delete them in this order):"]
        lines += textwrap.wrap(" ".join(deletion_order(r.replaced, r.sections)), 96,
                               initial_indent="  ", subsequent_indent="  ",
                               break_on_hyphens=False, break_long_words=False)
    return "".join(f"# {line}".rstrip() + "\n" for line in lines)


def _body(data: dict) -> str:
    """The sections in the description's order, empty ones left out."""
    data = {k: data[k] for k in description.TOP if data.get(k)}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=None,
                          width=100)
