"""``pacemail demo``: the main job on the local lab, end to end."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--name", default="pacemail", show_default=True, help="Lab name.")
@click.option("--report-dir", default="reports", show_default=True,
              type=click.Path(file_okay=False), help="Where the drill report goes.")
def demo(name, report_dir):
    """Bring up a 3-node lab, check the mail template, run a power-off failover drill, report.

    The lab stays up afterwards (`pacemail lab status`, `pacemail lab down`).
    """
    from pacemail.drills import mainjob

    outcome = mainjob.run(name, Path(report_dir),
                          progress=lambda m: click.echo(f"demo: {m}", err=True))
    r = outcome.result
    click.echo(outcome.markdown_path.read_text())
    click.echo(f"report: {outcome.json_path} and {outcome.markdown_path}")
    click.echo(f"verdict: {'PASS' if r.passed else 'FAIL'} - {r.active_before} lost power, "
               f"service back on {r.active_after} after {r.downtime_s}s of client-visible "
               f"downtime (fenced after {r.fence_s}s)")
    if not r.passed:
        raise SystemExit(1)
