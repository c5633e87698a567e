"""``pacemail agents``: install, list, uninstall and document the ocf:pacemail:* agents
(and pacemail's alert agent, installed, listed and removed with them)."""

from __future__ import annotations

import click

from pacemail.agents import NAMES, load
from pacemail.agents import install as lib

root_option = click.option(
    "--ocf-root", type=click.Path(file_okay=False), default=None,
    help="OCF root holding resource.d/ and lib/ (default: $OCF_ROOT or /usr/lib/ocf).")


def _root(ocf_root):
    return lib.default_root() if ocf_root is None else ocf_root


@click.group()
def agents():
    """The OCF resource agents pacemail ships (ocf:pacemail:NAME) and its alert agent."""


@agents.command()
@root_option
def install(ocf_root):
    """Install every agent where Pacemaker finds it (idempotent)."""
    root = _root(ocf_root)
    for item in lib.install(root) + [lib.install_alert(root)]:
        done = "unchanged" if item.state == "installed" else "written"
        click.echo(f"{item.path}: {done}")


@agents.command("list")
@root_option
def list_(ocf_root):
    """Show each agent's version, path and whether it is installed."""
    root = _root(ocf_root)
    for item in lib.status(root) + [lib.alert_status(root)]:
        click.echo(f"{item.name:<12} {item.version:<8} {item.state:<10} {item.path}")


@agents.command()
@root_option
def uninstall(ocf_root):
    """Remove the installed agents (and their folder once empty)."""
    root = _root(ocf_root)
    removed = lib.uninstall(root) + lib.uninstall_alert(root)
    for path in removed:
        click.echo(f"{path}: removed")
    if not removed:
        click.echo("nothing installed")


@agents.command()
@click.argument("name", type=click.Choice(NAMES))
def doc(name):
    """Print the reference of agent NAME (markdown): parameters and actions."""
    from pacemail.agents.metadata import render_markdown
    click.echo(render_markdown(load(name)), nl=False)
