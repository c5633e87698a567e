"""``pacemail demo``: the main job on the local lab, end to end."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--name", default="pacemail", show_default=True, help="Lab name.")
@click.option("--report-dir", default="reports", show_default=True,
              type=click.Path(file_okay=False), help="Where the drill report goes.")
@click.option("--wait", default=0.0, show_default=True, type=click.FloatRange(0),
              help="Seconds to wait for another run that holds the lab.")
def demo(name, report_dir, wait):
    """Bring up a 3-node lab, apply the mail template, run a power-off failover drill, report.

    The lab stays up afterwards (`pacemail lab status`, `pacemail lab down`).
    """
    from pacemail.drills import mainjob
    from pacemail.runlock import Busy

    try:
        outcome = mainjob.run(name, Path(report_dir), wait=wait,
                              progress=lambda m: click.echo(f"demo: {m}", err=True))
    except Busy as exc:
        raise click.ClickException(str(exc)) from None
    r = outcome.run
    click.echo(outcome.paths["markdown"].read_text())
    for note in outcome.notes:
        click.secho(f"NOTE: {note}", err=True, bold=True)
    click.echo(f"report: {outcome.paths['markdown']} (JSON {outcome.paths['json']})")
    click.echo("picture: " + ", ".join(str(p) for k, p in outcome.paths.items()
                                      if k.startswith("svg")))
    d = r["downtime_s"]
    click.echo(f"verdict: {'PASS' if r['passed'] else 'FAIL'} - {r.get('active_before')} lost "
               f"power, mail back on {r.get('active_after')} (stack {r['stack']}, running "
               f"{outcome.stack_up_s:.1f}s after the apply): SMTP down {d['smtp']}s, IMAP down "
               f"{d['imap']}s, fenced after {r['fence_s']}s; {r['accepted']} messages accepted, "
               f"{r['lost']} lost, {r['duplicates']} duplicates, {len(r['violations'])} violations")
    if not r["passed"]:
        raise SystemExit(1)
