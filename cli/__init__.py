"""The ``pacemail`` command line.

Only argument parsing and printing live in this package; each command calls a
plain library function elsewhere in pacemail and prints the errors and
warnings it returns. Subcommands load lazily, so ``pacemail lab --help`` does
not import the controller's CIB code and a broken group cannot break another.
"""

from __future__ import annotations

import importlib

import click

import pacemail

# name -> "module:attribute" of the click command or group implementing it.
COMMANDS: dict[str, str] = {
    "agents": "pacemail.cli.agents:agents",
    "apply": "pacemail.cli.config:apply",
    "controller": "pacemail.cli.daemon:controller",
    "fencing": "pacemail.cli.fencing:fencing",
    "import": "pacemail.cli.importcmd:import_",
    "lab": "pacemail.cli.lab:lab",
    "plan": "pacemail.cli.config:plan",
    "demo": "pacemail.cli.demo:demo",
    "doctor": "pacemail.cli.doctor:doctor",
    "drill": "pacemail.cli.drill:drill",
    "render": "pacemail.cli.config:render",
    "status": "pacemail.cli.config:status",
    "vagrant": "pacemail.cli.vagrant:vagrant",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(pacemail.__version__, prog_name="pacemail")
def main():
    """Make a postfix + dovecot mail cluster highly available on Pacemaker/Corosync.

    \b
    Typical flow:
      pacemail agents install          install the ocf:pacemail:* resource agents
      pacemail lab up                  start a 3-node test cluster on this machine
      pacemail render mail.yaml        show the CIB a cluster description becomes
      pacemail plan / apply mail.yaml  compare with and apply to the live cluster
      pacemail import -o mail.yaml     describe a cluster built by hand with pcs or crm
      pacemail drill run power-off-active   measure a failover, lost mail included
    """
