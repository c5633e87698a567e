"""``pacemail drill``: failover drills with a mail workload, invariants and a report."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group()
def drill():
    """Measure failovers on a lab: faults, lost mail, downtime, split brain."""


@drill.command(name="list")
def list_():
    """The scenarios `pacemail drill run` knows."""
    from pacemail.drills.scenarios import RANDOM, SCENARIOS

    for s in SCENARIOS.values():
        needs = {"any": "", "three": " (3+ nodes)", "two": " (two_node labs)"}[s.labs]
        click.echo(f"{s.name:18} {s.summary}{needs}")
    click.echo(f"{RANDOM:18} a seeded random sequence of the above (--repeat faults, --seed)")


@drill.command()
@click.argument("scenario")
@click.option("--target", "lab_name", default="pacemail", show_default=True,
              help="Lab name, or `vagrant`: the VMs `pacemail vagrant run -- up` provisioned.")
@click.option("--vagrant-dir", type=click.Path(file_okay=False, exists=True),
              help="With --target vagrant: the Vagrant project (default: the checkout's vagrant/).")
@click.option("--description", type=click.Path(dir_okay=False, exists=True),
              help="Cluster description to apply and drill (default: the stand-in stack; "
                   "on VMs: the one provisioning applied).")
@click.option("--repeat", default=1, show_default=True, type=click.IntRange(1, 100))
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for `random`.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write JSON here.")
@click.option("--report", "report_dir", default="reports", show_default=True,
              type=click.Path(file_okay=False), help="Directory for JSON, Markdown and SVG.")
@click.option("--compare", "compare_path", type=click.Path(dir_okay=False, exists=True),
              help="A drill report (JSON) to show next to this one; with --target vagrant the "
                   "default is the newest lab report of the scenario in the report directory.")
@click.option("--wait", default=0.0, show_default=True, type=click.FloatRange(0),
              help="Seconds to wait for another run that holds the lab (or the VMs).")
def run(scenario, lab_name, vagrant_dir, description, repeat, seed, json_path, report_dir,
        compare_path, wait):
    """Run SCENARIO (see `pacemail drill list`) REPEAT times against the lab or the VMs.

    The drill holds the lab (or the VMs) for its whole run: another drill, `lab up`
    or `lab down` on it is refused meanwhile.
    """
    from pacemail.drills import scenarios
    from pacemail.lab.topology import lock_name
    from pacemail.runlock import Busy, hold

    if scenario not in scenarios.names():
        raise click.BadParameter(f"unknown scenario {scenario!r} ({', '.join(scenarios.names())})")
    vms = lab_name == "vagrant"
    if vagrant_dir and not vms:
        raise click.UsageError("--vagrant-dir goes with --target vagrant")
    try:
        with hold("vagrant" if vms else lock_name(lab_name), wait):
            _run(scenario, lab_name, vms, vagrant_dir, description, repeat, seed, json_path,
                 report_dir, compare_path)
    except (Busy, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


def _run(scenario, lab_name, vms, vagrant_dir, description, repeat, seed, json_path,
         report_dir, compare_path):
    import os

    from pacemail.drills import engine, report, scenarios, steady, target
    from pacemail.pacemaker import totem

    say = lambda m: click.echo(f"drill: {m}", err=True)  # noqa: E731
    if vms:
        from pacemail.drills import vmtarget

        if description:
            raise click.UsageError("--description: on VMs the stack is the one provisioning "
                                   "applied (vagrant/provision/apply.sh)")
        if vagrant_dir:
            os.environ["PACEMAIL_VAGRANT_DIR"] = str(Path(vagrant_dir).resolve())
        try:
            t = vmtarget.connect()
        except (RuntimeError, OSError) as exc:
            raise click.ClickException(f"vagrant target: {exc}") from None
        context = {"target": t.label, "stack": f"{t.stack.kind}: {', '.join(t.stack.resources)} "
                   f"(VIP {t.stack.address})", "note": t.note,
                   "corosync": totem.read(run=vmtarget.runner(t.nodes[0])).summary()}
    else:
        t = (target.description_target(lab_name, Path(description)) if description
             else target.standin_target(lab_name))
        context = {"target": t.label, "stack": t.stack.kind,
                   "corosync": steady.corosync_timing(t.lab).summary()}
        if description:   # as the lab runs it, and said so
            context.update(lab_options=dict(target.LAB_OPTIONS), note=target.LAB_PROXYSQL)
            say(_lab_note(description))
    say(f"corosync: {context['corosync']}")
    try:
        plan = scenarios.sequence(scenario, t, repeat, seed)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    runs = []
    try:
        for i, s in enumerate(plan, 1):
            say(f"run {i}/{len(plan)}: {s.name} ({s.summary}) on {t.label}")
            runs.append(engine.run(t, s, say))
    except KeyboardInterrupt:
        say("interrupted; the target was restored; reporting the finished runs")
    compare = None
    if compare_path:
        compare = json.loads(Path(compare_path).read_text())
    elif vms:
        compare = report.latest_report(Path(report_dir), scenario)
    data = report.build(runs, {**context, "scenario": scenario, "seed": seed}, compare)
    paths = report.write(data, Path(report_dir))
    if json_path:
        Path(json_path).write_text(json.dumps(data, indent=2) + "\n")
    click.echo(paths["markdown"].read_text())
    click.echo("report: " + ", ".join(str(p) for p in paths.values()))
    if not runs or not all(r["passed"] for r in runs):
        raise SystemExit(1)


def _lab_note(description: str) -> str:
    """What the lab changes in a description it runs (:func:`target.as_lab_runs`)."""
    from pacemail.drills import target

    return (f"NOTE: the lab runs {description} with "
            + ", ".join(f"{k}={v}" for k, v in target.LAB_OPTIONS) + f"; {target.LAB_PROXYSQL}")


@drill.command(name="steady")
@click.option("--target", "lab_name", default="pacemail", show_default=True,
              help="The lab (up already, as for `drill run`).")
@click.option("--description", type=click.Path(dir_okay=False, exists=True), required=True,
              help="Cluster description to apply (as the lab runs it) and watch.")
@click.option("--minutes", default=10.0, show_default=True, type=click.FloatRange(min=0.1),
              help="How long the workload runs with no fault.")
@click.option("--report", "report_dir", default="reports", show_default=True,
              type=click.Path(file_okay=False), help="Directory for JSON and Markdown.")
@click.option("--wait", default=0.0, show_default=True, type=click.FloatRange(0),
              help="Seconds to wait for another run that holds the lab.")
def steady_(lab_name, description, minutes, report_dir, wait):
    """The drill's mail workload for --minutes with no fault: FAIL on any fencing, corosync
    membership change, failed operation, move or break of the stack, or lost message.

    The proof that corosync's token is not so short that a merely busy node is
    declared dead. Holds the lab for its whole run, like `drill run`.
    """
    from pacemail.drills import report, steady, target
    from pacemail.lab.state import NoLab
    from pacemail.lab.topology import lock_name
    from pacemail.runlock import Busy, hold

    say = lambda m: click.echo(f"steady: {m}", err=True)  # noqa: E731
    try:
        with hold(lock_name(lab_name), wait):
            try:
                t = target.description_target(lab_name, Path(description))
            except RuntimeError as exc:   # pacemail apply refused
                raise click.ClickException(str(exc)) from None
            say(_lab_note(description))
            result = steady.run(t, minutes, say)
    except (Busy, ValueError, NoLab) as exc:
        raise click.ClickException(str(exc)) from None
    data = report.steady(result, {"target": t.label, "stack": t.stack.kind,
                                  "description": description,
                                  "lab_options": dict(target.LAB_OPTIONS),
                                  "note": target.LAB_PROXYSQL})
    paths = report.write_steady(data, Path(report_dir))
    click.echo(paths["markdown"].read_text())
    click.echo("report: " + ", ".join(str(p) for p in paths.values()))
    if not data["passed"]:
        raise SystemExit(1)
