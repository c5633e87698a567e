"""``pacemail controller``: the daemon (run) and its systemd unit (install-unit)."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.group()
def controller():
    """The controller daemon: drift report and repair, stale DRBD fence removal, metrics."""


def _listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter("expected HOST:PORT")
    return host, int(port)


@controller.command("run")
@click.option("--description", "description_path", required=True, type=click.Path(dir_okay=False),
              help="The cluster description (YAML) the live CIB should match.")
@click.option("--repair", is_flag=True, help="Apply the description when pacemail's part drifted.")
@click.option("--allow-restart", is_flag=True, help="Let a repair stop, restart or move resources.")
@click.option("--interval", default=5.0, show_default=True, type=click.FloatRange(0.5, 600),
              help="Seconds between cycles.")
@click.option("--listen", default="127.0.0.1:9721", show_default=True,
              help="HOST:PORT of /metrics and /healthz.")
@click.option("--uptodate-score", default=None, type=int,
              help="Promotion score meaning UpToDate for stale DRBD fences [default: 1000].")
@click.option("--call-timeout", default=None, type=click.FloatRange(1, 600),
              help="At most this many seconds for each Pacemaker tool call "
                   "[default: each call's own, 30 s for reads, 120 s for a push].")
@click.option("--reports", "reports", default=None, type=click.Path(file_okay=False),
              help="Directory of drill reports (`pacemail drill run --report DIR`): the newest "
                   "one's last run is served as pacemail_drill_last_* metrics.")
def run(description_path, repair, allow_restart, interval, listen, uptodate_score, call_timeout,
        reports):
    """Watch the CIB every INTERVAL seconds; on the DC report drift (and --repair it), clear
    stale DRBD fence constraints; serve the cluster's metrics. Runs until stopped."""
    import logging

    from pacemail.cli.config import _load
    from pacemail.controller import daemon, serve
    from pacemail.pacemaker.runner import capped, local

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s pacemail-controller %(levelname)s %(message)s")
    host, port = _listen(listen)
    config = daemon.Config(_load(description_path), repair, allow_restart,
                           daemon.UP_TO_DATE_SCORE if uptodate_score is None else uptodate_score)
    runner = local if call_timeout is None else capped(local, call_timeout)
    d = serve.Daemon(config, interval, run=runner, reports=Path(reports) if reports else None)
    server = serve.serve_http(d, host, port)
    logging.getLogger("pacemail.controller").info(
        "started: %s, repair %s, every %ss, http://%s:%s/metrics", description_path,
        "on" if repair else "off", interval, host, port)
    try:
        d.loop()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


@controller.command("install-unit")
@click.argument("description", type=click.Path(dir_okay=False, exists=True))
@click.option("--path", "target", default="/etc/systemd/system/pacemail-controller.service",
              show_default=True, help="Where to write the unit.")
def install_unit(description, target):
    """Write the systemd unit running `controller run --description DESCRIPTION`; then
    `systemctl daemon-reload && systemctl enable --now pacemail-controller`."""
    from pacemail.controller.serve import unit

    Path(target).write_text(unit(Path(sys.argv[0]).resolve(), Path(description).resolve()))
    click.echo(f"wrote {target}")
