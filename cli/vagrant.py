"""``pacemail vagrant``: the locally built box and the network namespace Vagrant runs in here."""

from __future__ import annotations

import sys
from contextlib import contextmanager

import click

WAIT = click.option("--wait", default=0.0, show_default=True, type=click.FloatRange(0),
                    metavar="SECONDS",
                    help="Seconds to wait for another run that holds the VM side.")


@contextmanager
def _refusals():
    """A failed command, a refusal (no room, VMs in the way) or another run holding the VM
    side: its message, exit code 1."""
    from pacemail.proc import CommandError
    from pacemail.runlock import Busy

    try:
        yield
    except (CommandError, RuntimeError, OSError, Busy) as exc:
        raise click.ClickException(str(exc)) from None


def _say(prefix: str):
    return lambda m: click.echo(f"{prefix}: {m}", err=True)


@click.group()
def vagrant():
    """Vagrant failover clusters with real DRBD (vagrant/Vagrantfile).

    \b
    On your machine: cd vagrant && vagrant up   (debian/bookworm64, libvirt or VirtualBox)
    Here (no network, TCG only):
      pacemail vagrant box build     build and add the local box (PACEMAIL_BOX=local)
      pacemail vagrant net up        libvirtd + virtlogd in pacemail's own network namespace
      pacemail vagrant run -- up     vagrant in that namespace, in vagrant/
      pacemail drill run power-off-active --target vagrant
      pacemail vagrant box prune     remove boxes of earlier inputs and leftovers
    """


@vagrant.group()
def box():
    """The Debian 12 box built here from Debian packages, cached by its inputs."""


@box.command()
@click.option("--add/--no-add", default=True, show_default=True,
              help="Also `vagrant box add` it as pacemail/bookworm-local.")
@WAIT
def build(add, wait):
    """Build the box (or take it from the cache) and add it to Vagrant.

    Refused when the cache's file system has less than 5 GiB free; afterwards
    the cache holds the new box and its base only.
    """
    from pacemail.runlock import hold
    from pacemail.vms import build as lib, paths, vagrantcmd

    with _refusals(), hold(paths.LOCK, wait=wait):
        path = lib.build(say=_say("box"))
        if add:
            vagrantcmd.ensure_box(path, say=_say("box"))
    click.echo(path)


@box.command()
@click.option("--all", "everything", is_flag=True,
              help="Also the current box, its base tar and the box added to Vagrant "
                   "(the next boot builds again).")
@WAIT
def prune(everything, wait):
    """Remove boxes and base tars of other inputs, partial files, build work trees, and the
    box and pool volumes of other boxes (kept while VMs made from them exist)."""
    from pacemail.hostres import human
    from pacemail.vms import build as lib

    with _refusals():
        removed = lib.prune(say=_say("box"), keep_current=not everything, wait=wait)
    click.echo(f"freed {human(sum(size for _, size in removed))}")


@box.command()
def path():
    """Print the cached box file for the current inputs; exit 1 when there is none."""
    from pacemail.vms import build as lib

    found = lib.cached_box()
    if found is None:
        raise click.ClickException("no box cached for the current inputs "
                                   "(pacemail vagrant box build)")
    click.echo(found)


@vagrant.group()
def net():
    """The network namespace libvirtd, virtlogd and vagrant run in here."""


@net.command("up")
@WAIT
def net_up(wait):
    """Create netns pmv-vagrant and start virtlogd + libvirtd in it (idempotent)."""
    from pacemail.vms import netns

    with _refusals():
        netns.up(say=_say("net"), wait=wait)
    click.echo(f"netns {netns.NETNS} up; run vagrant there with `pacemail vagrant run -- ...`")


@net.command("down")
@WAIT
def net_down(wait):
    """Stop our libvirtd + virtlogd and delete the namespace (refused while VMs run)."""
    from pacemail.vms import netns

    with _refusals():
        netns.down(say=_say("net"), wait=wait)


@vagrant.command(context_settings={"ignore_unknown_options": True})
@click.option("--timeout", default=1800, show_default=True, type=click.IntRange(10, 7200),
              help="Seconds before vagrant is stopped.")
@WAIT
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run(timeout, wait, args):
    """Run `vagrant ARGS` in vagrant/, inside the namespace, with the local box settings.

    Holds the VM side while vagrant runs. `up` first checks the memory and
    pool space the VMs it boots need, and adds the cached box to Vagrant when
    it is not the box added (the local box only).
    """
    from pacemail.runlock import hold
    from pacemail.vms import build as lib, paths, pool, readiness, vagrantcmd

    with _refusals(), hold(paths.LOCK, wait=wait):
        booting = vagrantcmd.booting(list(args), readiness.NODES)
        if booting:
            reason = readiness.room_to_boot(booting)
            if reason:
                raise click.ClickException(reason)
            found = lib.cached_box()
            if vagrantcmd.isolated_env()["PACEMAIL_BOX"] == "local" and found is not None:
                if pool.vm_disks(pool.volumes()) and vagrantcmd.added_key() != lib.current_key():
                    _say("box")("the VMs here were made from an earlier box; `destroy -f`, "
                                "then `up`, boots the current one")
                else:
                    vagrantcmd.ensure_box(found, say=_say("box"))
        code = vagrantcmd.interactive(list(args), timeout)
    sys.exit(code)
