"""``pacemail vagrant``: the locally built box and the network namespace Vagrant runs in here."""

from __future__ import annotations

import click


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
    """


@vagrant.group()
def box():
    """The Debian 12 box built here from Debian packages, cached by its inputs."""


@box.command()
@click.option("--add/--no-add", default=True, show_default=True,
              help="Also `vagrant box add` it as pacemail/bookworm-local.")
def build(add):
    """Build the box (or take it from the cache) and add it to Vagrant."""
    from pacemail.proc import CommandError
    from pacemail.vms import build as lib, vagrantcmd

    say = lambda m: click.echo(f"box: {m}", err=True)  # noqa: E731
    try:
        path = lib.build(say=say)
        if add:
            vagrantcmd.box_add(path)
            say(f"added as {lib.paths.BOX_NAME}")
    except CommandError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(path)


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
def net_up():
    """Create netns pmv-vagrant and start virtlogd + libvirtd in it (idempotent)."""
    from pacemail.vms import netns

    try:
        netns.up(say=lambda m: click.echo(f"net: {m}", err=True))
    except (RuntimeError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"netns {netns.NETNS} up; run vagrant there with `pacemail vagrant run -- ...`")


@net.command("down")
def net_down():
    """Stop our libvirtd + virtlogd and delete the namespace (refused while VMs run)."""
    from pacemail.vms import netns

    try:
        netns.down(say=lambda m: click.echo(f"net: {m}", err=True))
    except (RuntimeError, OSError) as exc:
        raise click.ClickException(str(exc)) from None


@vagrant.command(context_settings={"ignore_unknown_options": True})
@click.option("--timeout", default=1800, show_default=True, type=click.IntRange(10, 7200),
              help="Seconds before vagrant is stopped.")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run(timeout, args):
    """Run `vagrant ARGS` in vagrant/, inside the namespace, with the local box settings."""
    import os

    from pacemail.vms import vagrantcmd

    argv, env = vagrantcmd.isolated(list(args), timeout)
    os.execvpe(argv[0], argv, env)
