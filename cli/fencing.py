"""``pacemail fencing``: the quorum guard and DRBD's fence-peer / unfence-peer handlers."""

from __future__ import annotations

import json
import os
import sys

import click

from pacemail.fencing import guard, handler_env, lock
from pacemail.pacemaker import quorum

# pacemail fencing quorum: 0 quorate, 1 not quorate, 3 corosync not answering
# (2 stays click's usage error).
QUORATE, INQUORATE, COROSYNC_DOWN = 0, 1, 3

CLONE = click.option("--clone", envvar="PACEMAIL_DRBD_CLONE", default=None,
                     help="Id of the promotable DRBD clone [env PACEMAIL_DRBD_CLONE; default: the "
                          "clone whose primitive has drbd_resource=$DRBD_RESOURCE].")
TIMEOUT = click.option("--timeout", "cib_timeout", default=60.0, show_default=True,
                       type=click.FloatRange(1, 600),
                       help="Seconds for all CIB attempts (retried on failure) together.")
LOCK = click.option("--lock-file", default=lock.DEFAULT_PATH, show_default=True,
                    help="Node-wide lock serializing the handlers' CIB changes.")


@click.group()
def fencing():
    """Quorum guard and DRBD fencing handlers.

    \b
    In drbd.conf (DRBD 9):
      net      { fencing resource-and-stonith; }
      handlers { fence-peer   "/usr/bin/pacemail fencing fence-peer --stonith";
                 unfence-peer "/usr/bin/pacemail fencing unfence-peer"; }
    DRBD 8.4: after-resync-target instead of unfence-peer.
    """


@fencing.command("quorum")
@click.option("--json", "as_json", is_flag=True, help="Print the state as JSON.")
@click.option("--timeout", default=quorum.TIMEOUT, show_default=True,
              type=click.FloatRange(0.5, 120), help="Seconds to wait for corosync.")
def quorum_cmd(as_json, timeout):
    """This node's votequorum state. Exit 0 quorate, 1 not quorate, 3 corosync not answering."""
    state = quorum.read(timeout=timeout)
    if as_json:
        click.echo(json.dumps(state.as_dict(), indent=2))
    else:
        click.echo(state.summary())
        if state.running:
            click.echo(f"flags: {' '.join(state.flags) or '-'}; two_node "
                       f"{'yes' if state.two_node else 'no'}, wait_for_all "
                       f"{'yes' if state.wait_for_all else 'no'}")
            for m in state.members:
                click.echo(f"  {m.id:>4} {m.name}{' (local)' if m.local else ''}")
    sys.exit(QUORATE if state.quorate else INQUORATE if state.running else COROSYNC_DOWN)


@fencing.command("guard")
@click.option("--timeout", default=guard.TIMEOUT, show_default=True,
              type=click.FloatRange(0.5, 120), help="Seconds for each cluster query.")
def guard_cmd(timeout):
    """May this node promote DRBD / mount the mail volume now? Exit 0 yes, 1 no; prints why."""
    allowed, reason = guard.may_take_over(timeout=timeout)
    click.echo(reason)
    sys.exit(0 if allowed else 1)


@fencing.command("fence-peer")
@CLONE
@click.option("--stonith/--no-stonith", envvar="PACEMAIL_FENCE_STONITH", default=False,
              show_default=True, help="Ask Pacemaker to fence a lost peer and wait for it.")
@click.option("--stonith-action", type=click.Choice(["reboot", "off"]), default="reboot",
              show_default=True)
@click.option("--stonith-timeout", default=90.0, show_default=True,
              type=click.FloatRange(1, 600), help="Seconds to wait for the fencer's confirmation.")
@click.option("--peer-timeout", default=30.0, show_default=True, type=click.FloatRange(0, 600),
              help="Seconds a peer shown online may stay silent before it counts as lost.")
@TIMEOUT
@LOCK
def fence_peer_cmd(clone, stonith, stonith_action, stonith_timeout, peer_timeout, cib_timeout,
                   lock_file):
    """DRBD fence-peer handler: Promoted only where the data is UpToDate.

    Reads DRBD's handler environment (DRBD_RESOURCE, DRBD_MY_NODE_ID,
    DRBD_NODE_ID_<n>, UP_TO_DATE_NODES, DRBD_PEER_NODE_ID; 8.4: DRBD_PEERS or
    DRBD_PEER). Exit codes as DRBD expects: 4 constraint placed, peer online;
    5 placed, peer unreachable (quorate, not two_node); 6 not quorate or
    already fenced by the peer: outdate yourself; 7 placed, peer fenced;
    1 error (nothing placed).
    """
    from pacemail.fencing import drbd_handlers

    sys.exit(_handler(drbd_handlers.fence_peer, "fence-peer", drbd_handlers.Options(
        clone=clone, stonith=stonith, stonith_action=stonith_action,
        stonith_timeout=stonith_timeout, peer_timeout=peer_timeout, cib_timeout=cib_timeout,
        lock_path=lock_file)))


@fencing.command("unfence-peer")
@CLONE
@TIMEOUT
@LOCK
def unfence_peer_cmd(clone, cib_timeout, lock_file):
    """DRBD unfence-peer / after-resync-target handler: remove this resource's constraint.

    Exit 0 when it is gone (or was not there), 1 when the CIB could not be
    changed after retries (logged to syslog and stderr).
    """
    from pacemail.fencing import drbd_handlers

    sys.exit(_handler(drbd_handlers.unfence_peer, "unfence-peer", drbd_handlers.Options(
        clone=clone, cib_timeout=cib_timeout, lock_path=lock_file)))


def _handler(function, name: str, options) -> int:
    from pacemail.agents.ocf import Log

    log = Log(name, os.environ.get("DRBD_RESOURCE", ""), os.environ)
    try:
        env = handler_env.parse(os.environ)
    except handler_env.EnvError as exc:
        log.error(f"{name}: {exc}")
        return 1
    return function(env, options, log)


@fencing.command("secrets")
@click.argument("description", type=click.Path(dir_okay=False))
@click.option("--secrets-dir", default=None, type=click.Path(file_okay=False),
              help="Where Pacemaker reads CIB secrets [default: /var/lib/pacemaker/lrm/secrets].")
def secrets_cmd(description, secrets_dir):
    """Install this node's fence device secrets from DESCRIPTION's root-only files.

    Run on every node (the CIB holds only `lrm://`; each node keeps its own
    copy of the secret files Pacemaker reads; `pacemail controller run` keeps
    them in place too). Removes the secrets of pacemail's resources the
    description no longer has. Prints what was installed, never a value. Exit 0 all installed, 1 any problem.
    """
    from pathlib import Path

    from pacemail.cli.config import _load, print_problems
    from pacemail.controller import cibsecrets

    d = _load(description)
    root = Path(secrets_dir) if secrets_dir else cibsecrets.SECRETS_DIR
    synced = cibsecrets.sync(d, root)
    for i in synced.installed:
        state = "installed" if i.changed else "unchanged"
        click.echo(f"{i.secret.resource} {i.secret.param}: {state} (from {i.secret.source})")
    for s in synced.removed:
        click.echo(f"{s.resource} {s.param}: removed (no longer in the description)")
    print_problems(synced.problems)
    sys.exit(1 if synced.problems else 0)
