"""``pacemail doctor``: what pacemail holds on this machine; ``--clean`` takes back the stale."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--clean", is_flag=True,
              help="Remove whatever no live run holds (labs, VMs, mounts, stale boxes).")
@click.option("--lab", "labs", multiple=True,
              help="With --clean: only these labs (repeatable), and --vms if given.")
@click.option("--vms", is_flag=True, help="With --clean: only the VM side, and --lab if given.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def doctor(clean, labs, vms, as_json):
    """Labs, VMs, namespaces, loop devices, mounts, launchers, caches, free disk and memory.

    Exit code 1 when --clean left something because a live run holds it.
    """
    from pacemail.host import doctor as lib

    held = []
    if clean:
        held = lib.clean(list(labs) or None, vms, say=lambda m: click.echo(m, err=True))
    elif labs or vms:
        raise click.UsageError("--lab and --vms go with --clean")
    found = lib.census()
    if as_json:
        click.echo(json.dumps({**found.as_dict(), "held": held}, indent=2))
    else:
        for line in lib.render(found):
            click.echo(line)
        for line in held:
            click.echo(f"left alone: {line}")
    if held:
        raise SystemExit(1)
