"""``pacemail lab``: a real multi-node Pacemaker/Corosync cluster in namespaces on this machine."""

from __future__ import annotations

import json
import os
import time

import click

from pacemail.hostres import human
from pacemail.lab import inventory, lifecycle, net, state, switchd
from pacemail.lab.nodes import NodeDown, enter_argv, node_env, node_run
from pacemail.lab.status import lab_status
from pacemail.lab.topology import QNETD_ADDRESS, Lab, lock_name
from pacemail.proc import CommandError
from pacemail.runlock import Busy, held_here

NAME = click.option("--name", default="pacemail", show_default=True,
                    help="Lab name; several labs can run side by side.")
WAIT = click.option("--wait", default=0.0, show_default=True, type=click.FloatRange(0),
                    help="Seconds to wait for another run that holds the lab.")


def _load(name: str) -> Lab:
    try:
        return state.load(name)
    except (state.NoLab, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def lab():
    """A real corosync + pacemaker cluster in Linux namespaces on this machine.

    Each node has its own network, mount, UTS, IPC and PID namespaces, runs
    real corosync and pacemakerd, and is fenced for real through the lab's
    power switch (fence agent fence_pacemail_lab). Addresses come from
    198.18.0.0/24 on a switch in its own namespace; nothing leaves the machine.
    Needs root.
    """


@lab.command()
@NAME
@click.option("--nodes", "size", default=3, show_default=True, type=click.IntRange(2, 9),
              help="Number of nodes.")
@click.option("--two-node", is_flag=True,
              help="Two nodes with votequorum two_node (with --qdevice: two nodes and qnetd).")
@click.option("--qdevice", is_flag=True,
              help=f"A quorum device: corosync-qdevice on every node, corosync-qnetd at "
                   f"{QNETD_ADDRESS} in a namespace of its own (replaces two_node).")
@click.option("--sbd-disk", is_flag=True,
              help="A shared SBD disk (loop device, `sbd create` done); no sbd daemon runs.")
@click.option("--no-fencing", is_flag=True, help="Leave STONITH off (not like production).")
@WAIT
def up(name, size, two_node, qdevice, sbd_disk, no_fencing, wait):
    """Start a lab (clearing a stale one of the same name) and wait for quorum and a DC.

    Refused while another run (a drill, a test session, another `up`) uses the lab.
    """
    if two_node:
        size = 2
    try:
        result = lifecycle.up(name, size, two_node and not qdevice, fencing=not no_fencing,
                              wait=wait, qdevice=qdevice, sbd_disk=sbd_disk,
                              progress=lambda m: click.echo(f"lab {name}: {m}", err=True))
    except (RuntimeError, TimeoutError, ValueError, Busy) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"lab {name}: {size} nodes up, quorum and DC after "
               f"{result.seconds_to_quorum:.1f}s (ready after {result.seconds_total:.1f}s); "
               f"mail volume {result.mail_device}"
               + (f"; quorum device: qnetd at {QNETD_ADDRESS}" if qdevice else "")
               + (f"; SBD disk {state.facts(name)['sbd_device']}" if sbd_disk else ""))


@lab.command()
@NAME
@click.option("--all", "every", is_flag=True, help="Every lab on this machine (`lab list`).")
@WAIT
def down(name, every, wait):
    """Remove every namespace, process, mount, loop device and directory of the lab.

    Refused while another run uses it; with --all, the labs in use are left
    alone and named, and the exit code is 1.
    """
    names = [r.name for r in inventory.find()] if every else [name]
    busy = []
    for lab_name in names:
        started = time.monotonic()
        try:
            removed = lifecycle.down(lab_name, wait=wait)
        except Busy as exc:
            busy.append(str(exc))
            continue
        for item in removed:
            click.echo(f"removed {item}", err=True)
        click.echo(f"lab {lab_name}: down in {time.monotonic() - started:.1f}s")
    if every and not names:
        click.echo("no lab on this machine")
    if busy:
        raise click.ClickException("; ".join(busy))


@lab.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_(as_json):
    """Every lab on this machine: alive or not, what it holds, and which run uses it."""
    records = inventory.find()
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in records], indent=2))
        return
    if not records:
        click.echo("no lab on this machine")
    for r in records:
        state_ = ("up" if r.alive and r.recorded else "dead (leftovers)" if not r.alive
                  else "half-made (no state file)")
        held = "free" if r.holder is None else (
            f"in use by PID {r.holder.get('pid')} ({r.holder.get('cmdline', '')[:60]})"
            + (" - this run" if held_here(lock_name(r.name), r.holder) else ""))
        click.echo(f"{r.name:12} {state_:26} {r.size or '?'} nodes, {r.processes} processes, "
                   f"{len(r.namespaces)} namespaces, {len(r.loops)} loop devices, "
                   f"{human(r.disk_bytes)}; {held}")


@lab.command()
@NAME
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(name, as_json):
    """Power, cluster membership, quorum and mail volume mounts per node."""
    report = lab_status(_load(name))
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    device = f" (quorum device: qnetd at {report['qnetd']})" if report["qnetd"] else ""
    click.echo(f"lab {report['name']}: {report['size']} nodes"
               f"{' (two_node)' if report['two_node'] else ''}{device}, "
               f"mail volume {report['mail_device']}"
               + (f", SBD disk {report['sbd_device']}" if report["sbd_device"] else ""))
    for node in report["nodes"]:
        click.echo(f"  {node['name']:6} {node['address']:14} power {node['power']:3}  "
                   f"quorate {str(node['quorate']).lower():5}  dc {node['dc'] or '-':6} "
                   f"online {','.join(node['online']) or '-'}")
    click.echo(f"  mail volume mounted on: {', '.join(report['mail_mounted_on']) or 'none'}")
    if report["partitions"]:
        click.echo(f"  dropped at the switch: {', '.join(report['partitions'])}")


@lab.command(name="exec", context_settings={"ignore_unknown_options": True,
                                            "allow_interspersed_args": False})
@NAME
@click.argument("node")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(name, node, command):
    """Run COMMAND inside NODE, e.g. `pacemail lab exec node1 -- crm_mon -1`."""
    command = list(command)
    if command[:1] == ["--"]:  # `exec NODE -- CMD`: the separator is ours, not the command's
        command = command[1:]
    try:
        _load(name).node(node)
        argv = enter_argv(name, node, command)
    except KeyError as exc:
        raise click.ClickException(exc.args[0]) from None
    except NodeDown as exc:
        raise click.ClickException(str(exc)) from None
    os.execvpe(argv[0], argv, node_env(name))


@lab.command()
@NAME
@click.argument("node")
@click.argument("action", type=click.Choice(["off", "on", "reset", "status"]))
def power(name, node, action):
    """Pull the plug of NODE (off), boot it (on), or both (reset)."""
    lab_ = _load(name)
    op = {"reset": "reboot"}.get(action, action)
    answer = switchd.request(str(lab_.switch_socket), op, node)
    if not answer.get("ok"):
        raise click.ClickException(answer.get("error", "the lab switch refused"))
    click.echo(f"{node}: {answer['status']}")


@lab.command()
@NAME
@click.argument("nodes")
@click.option("--from", "others", default="",
              help="Comma-separated nodes to cut NODES off from (default: all other nodes).")
def partition(name, nodes, others):
    """Drop all traffic between NODES (comma-separated) and the others."""
    lab_ = _load(name)
    try:
        isolated = [lab_.node(n) for n in nodes.split(",") if n]
        rest = ([lab_.node(n) for n in others.split(",") if n] if others
                else [n for n in lab_.nodes if n not in isolated])
    except KeyError as exc:
        raise click.ClickException(exc.args[0]) from None
    net.partition(lab_, isolated, rest)
    click.echo(f"partitioned {','.join(n.name for n in isolated)} from "
               f"{','.join(n.name for n in rest)}")


@lab.command()
@NAME
def heal(name):
    """Remove every partition."""
    net.heal(_load(name))
    click.echo("healed")


@lab.command()
@NAME
@click.argument("node")
@click.argument("process")
def kill(name, node, process):
    """SIGKILL one daemon inside NODE by process name (e.g. corosync, master, dovecot)."""
    _load(name)
    try:
        node_run(name, node, ["pkill", "-KILL", "-x", process], timeout=10)
    except NodeDown as exc:
        raise click.ClickException(str(exc)) from None
    except CommandError:
        raise click.ClickException(f"no process named {process!r} runs on {node}") from None
    click.echo(f"killed {process} on {node}")

