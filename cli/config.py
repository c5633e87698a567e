"""``pacemail render``, ``plan``, ``apply``, ``status``: a cluster description and the live CIB."""

from __future__ import annotations

import sys

import click


def print_problems(problems) -> None:
    for problem in problems:
        click.echo(str(problem), err=True)


@click.command()
@click.argument("description", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write the result here instead of standard output.")
@click.option("--corosync", "part", flag_value="corosync",
              help="Render corosync.conf's quorum section instead (quorum device, two_node).")
@click.option("--sbd", "part", flag_value="sbd",
              help="Render /etc/default/sbd instead (the description's sbd: section).")
def render(description, output, part):
    """Turn the cluster DESCRIPTION (YAML) into a complete Pacemaker CIB (XML).

    With --corosync or --sbd, the part that lives outside the CIB instead: the
    same text on every node. Errors and warnings go to standard error; any
    error means nothing rendered and exit 1.
    """
    from pacemail.controller.build import render as build_render
    from pacemail.controller.quorumdevice import corosync_quorum
    from pacemail.controller.sbd import sysconfig

    d = _load(description)
    if part == "sbd" and d.sbd is None:
        raise click.ClickException(f"{description} has no sbd: section")
    xml = (corosync_quorum(d).encode() if part == "corosync" else
           sysconfig(d).encode() if part == "sbd" else build_render(d))
    if output:
        with open(output, "wb") as f:
            f.write(xml)
    else:
        sys.stdout.buffer.write(xml)


def _load(description):
    """The parsed description, its problems printed; exit 1 on any error."""
    from pacemail.controller.description import load
    from pacemail.controller.problems import errors

    parsed = load(description)
    print_problems(parsed.problems)
    if errors(parsed.problems):
        raise SystemExit(1)
    return parsed.description


def _live_plan(d):
    from pacemail.controller.apply import plan_live
    from pacemail.proc import CommandError

    try:
        return plan_live(d)
    except CommandError as exc:
        click.echo(f"error: cannot read the live CIB: {exc}", err=True)
        raise SystemExit(1)


SIGNS = {"add": "+", "change": "~", "remove": "-"}


def print_plan(plan) -> None:
    from pacemail.controller.plan import KIND_ORDER

    version = ".".join(map(str, plan.base))
    for note in plan.notes:
        click.echo(f"note: {note}")
    if not plan.changes:
        click.echo(f"No changes: the live CIB (version {version}) matches the description.")
        return
    click.echo(f"Against the live CIB at version {version} (admin_epoch.epoch.num_updates):")
    for kind in KIND_ORDER:
        changes = [c for c in plan.changes if c.kind == kind]
        if changes:
            click.echo(f"\n{kind}:")
        for c in changes:
            click.echo(f"  {SIGNS[c.action]} {c.id}  {c.what}")
            if c.action == "change":
                for key, old, new in c.fields:
                    click.echo(f"      {key}: {_value(old)} -> {_value(new)}")
    if plan.impact:
        click.echo("\nrunning resources:")
        for i in plan.impact:
            where = " -> ".join(", ".join(n) for n in (i.before, i.after) if n)
            mark = "!" if i.disruptive else " "
            click.echo(f"  {mark} {i.resource}: {i.effect} ({where})")
    counts = {a: sum(c.action == a for c in plan.changes) for a in SIGNS}
    click.echo(f"\nPlan: {counts['add']} to add, {counts['change']} to change, "
               f"{counts['remove']} to remove; {len(plan.disruptions)} running resource(s) disrupted.")


def _value(v) -> str:
    return "(absent)" if v is None else f'"{v}"'


def problem_json(problem) -> dict:
    return {"severity": problem.severity.value, "where": str(problem.location),
            "message": problem.message}


def plan_json(plan) -> dict:
    from dataclasses import asdict

    return {"base": dict(zip(("admin_epoch", "epoch", "num_updates"), plan.base)),
            "changes": [asdict(c) for c in plan.changes],
            "impact": [dict(asdict(i), disruptive=i.disruptive) for i in plan.impact],
            "problems": [problem_json(p) for p in plan.problems],
            "notes": list(plan.notes)}


@click.command()
@click.argument("description", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan(description, as_json):
    """Show what applying DESCRIPTION would change in the live CIB.

    Exit 0: no changes; 2: changes; 1: error.
    """
    import json
    import os

    from pacemail.controller.quorumdevice import live_drift

    d = _load(description)
    result = _live_plan(d)
    # Against a CIB file (cibadmin's CIB_file) there is no running corosync to compare.
    corosync = [] if os.environ.get("CIB_file") else live_drift(d)
    if as_json:
        data = plan_json(result)
        data["problems"] += [problem_json(p) for p in corosync]
        click.echo(json.dumps(data, indent=2))
    else:
        print_problems(list(result.problems) + corosync)
        print_plan(result)
    if not result.ok:
        raise SystemExit(1)
    raise SystemExit(2 if result.changes else 0)


@click.command()
@click.argument("description", type=click.Path(dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask before pushing.")
@click.option("--allow-restart", is_flag=True,
              help="Accept that running resources stop, restart or move.")
def apply(description, yes, allow_restart):
    """Apply DESCRIPTION to the live CIB: one versioned patch of pacemail's part.

    Refuses when the merged CIB fails crm_verify, when running resources would
    be disrupted (without --allow-restart) and when the CIB changed after it
    was read in a way that changes the plan.
    """
    from pacemail.controller.apply import gate, push
    from pacemail.proc import CommandError

    d = _load(description)
    result = _live_plan(d)
    print_problems(result.problems)
    print_plan(result)
    if not result.changes:
        return
    refused = gate(result, allow_restart)
    if not refused and not yes and not click.confirm("\nApply these changes?"):
        raise SystemExit(1)
    try:
        outcome = push(result, d, allow_restart=allow_restart)
    except CommandError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1)
    if outcome.replanned:
        click.echo("\nThe live CIB changed after it was read; the plan against it:")
        print_plan(outcome.plan)
    if outcome.refused:
        click.echo(f"\nrefused: {outcome.refused}", err=True)
        raise SystemExit(1)
    click.echo(f"\nApplied: {len(outcome.plan.changes)} change(s) pushed.")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(as_json):
    """Where each part of the mail stack runs, failures, fencing and quorum (run on a node)."""
    import json
    from dataclasses import asdict

    from pacemail.controller.cibxml import PREFIX
    from pacemail.pacemaker.status import read
    from pacemail.proc import CommandError

    try:
        s = read()
    except CommandError as exc:
        click.echo(f"error: cannot read the cluster status: {exc}", err=True)
        raise SystemExit(1)
    if as_json:
        click.echo(json.dumps(asdict(s), indent=2))
        return
    online = [n.name for n in s.nodes if n.online]
    offline = [n.name + (" (unclean)" if n.unclean else "") for n in s.nodes if not n.online]
    click.echo(f"quorum: {'yes' if s.quorate else 'NO'}   DC: {s.dc or '-'}   "
               f"online: {' '.join(online) or '-'}" + (f"   offline: {' '.join(offline)}" if offline else ""))
    for title, rows in (("mail stack", [r for r in s.resources if r.id.startswith(PREFIX)]),
                        ("other resources", [r for r in s.resources
                                             if not r.id.startswith(PREFIX)])):
        if rows:
            click.echo(f"\n{title}:")
        for r in rows:
            name = r.id.removeprefix(PREFIX)
            where = ", ".join(f"{node} ({role})" for node, role in r.placement) or "stopped"
            flags = ("  FAILED" if r.failed else "") + ("" if r.managed else "  unmanaged")
            click.echo(f"  {name:<24} {where:<40} {r.agent}{flags}")
    if s.failures:
        click.echo("\nfailed actions:")
    for f in s.failures:
        click.echo(f"  {f.resource} {f.operation} on {f.node}: {f.result}"
                   + (f" ({f.reason})" if f.reason else "") + f"  {f.when}")
    if s.fencing:
        click.echo("\nfencing history:")
    for e in s.fencing:
        click.echo(f"  {e.action} {e.target}: {e.status} (by {e.by or '-'}) {e.when}")
