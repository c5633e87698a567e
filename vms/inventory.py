"""What the VM side holds on this machine, found from what exists, and its removal.

A killed test run or drill can leave VMs running (qemu processes whose
libvirtd is gone), libvirt domains and pool volumes, daemons and other
processes in netns pmv-vagrant, the chroot's /dev, /proc and /sys bound in a
build's work tree, and partial files in the cache. :func:`census` lists all of
it as data (``pacemail doctor`` shows it); :func:`clean` removes what no live
run holds, in an order that never cuts the ground from under something
still running: VMs before their disks, daemons before the namespace, mounts
before the trees they sit in.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

from pacemail.hostres import disk_usage, human, processes
from pacemail.proc import CommandError
from pacemail.runlock import hold, holder
from pacemail.vms import build, netns, paths, pool, vagrantcmd
from pacemail.vms.deadline import Deadline

DOMAIN_CONFIGS = Path("/etc/libvirt/qemu")  # where libvirt keeps the domains it defined
STOP_S = 10.0   # a process given SIGTERM, then SIGKILL, gets this long each to go


def domain_names(virsh_list: str) -> list[str]:
    """Our domains in ``virsh list --all --name`` output (one name a line)."""
    return sorted(n.strip() for n in virsh_list.splitlines()
                  if n.strip().startswith(paths.DOMAIN_PREFIX))


def qemu_guests(processes: Iterable[tuple[int, list[str]]]) -> dict[int, str]:
    """{pid: domain} of the qemu processes running one of our domains, from (pid, argv)
    pairs: a qemu-system binary whose ``-name`` says ``guest=pacemail-...``."""
    found = {}
    for pid, argv in processes:
        if not argv or not os.path.basename(argv[0]).startswith("qemu-system"):
            continue
        for arg in argv[1:]:
            for part in arg.split(","):
                if part.startswith("guest=" + paths.DOMAIN_PREFIX):
                    found[pid] = part[len("guest="):]
    return found


def domain_configs() -> list[str]:
    """Our domains libvirt keeps defined (its configuration files), asked or not."""
    try:
        return sorted(p.stem for p in DOMAIN_CONFIGS.glob(paths.DOMAIN_PREFIX + "*.xml"))
    except OSError:
        return []


def _daemons(notes: list[str]) -> dict[str, int | None]:
    found = {}
    for name, pid_file in (*netns.DAEMONS, ("sshd", netns.SSHD_PID)):
        try:
            found[name] = netns.pid_in_netns(pid_file)
        except RuntimeError as exc:   # someone else's daemon: not ours, not counted
            found[name] = None
            notes.append(str(exc))
    return found


def census() -> dict:
    """Everything the VM side holds here, as data; asks our libvirtd only when it runs."""
    notes: list[str] = []
    cache, home = paths.cache_dir(), vagrantcmd.vagrant_home()
    daemons = _daemons(notes)
    domains = None
    if daemons["libvirtd"] is not None:
        done = netns.virsh(["list", "--all", "--name"], timeout=netns.STEP_S, check=False)
        if done.returncode == 0:
            domains = domain_names(done.stdout)
        else:
            notes.append(f"virsh list: {done.stderr.strip()[-200:]}")
    names = pool.volumes()
    stale_volumes = set(pool.stale_box_volumes(names, vagrantcmd.whole_volume()))
    cached = build.cached_box(cache)
    places = [cache, paths.state_dir()] + ([] if home.is_relative_to(cache) else [home])
    disk = {str(place): disk_usage(place) for place in places if place.exists()}
    if names:   # bytes on disk per place, for a summary next to the lab's
        disk[f"{pool.pool_dir()}/{paths.DOMAIN_PREFIX}*"] = sum(
            disk_usage(pool.pool_dir() / n) for n in names)
    return {
        "netns": {"name": netns.NETNS, "exists": netns.exists(), "pids": netns.pids()},
        "daemons": daemons,
        "domains": domains,                    # None: libvirtd does not run, so not asked
        "domain_configs": domain_configs(),
        "qemu": [{"pid": pid, "domain": d, "netns": _netns_of(pid)}
                 for pid, d in sorted(qemu_guests(processes()).items())],
        "pool": [{"path": str(pool.pool_dir() / n), "bytes": disk_usage(pool.pool_dir() / n),
                  "kind": "box" if pool.is_box_volume(n) else "disk",
                  "stale": n in stale_volumes} for n in names],
        "mounts": build.mounts_under(Path("/proc/self/mountinfo").read_text(), cache),
        "cache": [{"path": str(p), "kind": build.kind(p.name), "bytes": size, "stale": gone}
                  for p, size, gone in build.cache_items(cache)]
                 + [{"path": str(p), "kind": k, "bytes": disk_usage(p), "stale": False}
                    for k, p in (("vagrant home", home), ("state", paths.state_dir()))
                    if p.exists()],
        "box": {"current_key": build.current_key(), "cached": str(cached) if cached else None,
                "added_key": vagrantcmd.added_key()},
        "disk": disk,
        "holder": holder(paths.LOCK),
        "notes": notes,
    }


def describe(c: dict) -> list[str]:
    """A :func:`census` as lines of text, what runs first, then what is left and its size."""
    h = human
    ns, daemons = c["netns"], c["daemons"]
    running = ", ".join(f"{n} {pid}" for n, pid in daemons.items() if pid) or "no daemons"
    lines = [f"VMs: netns {ns['name']} " + (f"up ({len(ns['pids'])} processes; {running})"
                                           if ns["exists"] else "absent")]
    if c["domains"] is not None:
        lines.append(f"  domains: {' '.join(c['domains']) or 'none'}")
    elif c["domain_configs"]:
        lines.append(f"  domains defined (libvirtd not running): {' '.join(c['domain_configs'])}")
    for q in c["qemu"]:
        lines.append(f"  qemu {q['pid']} runs {q['domain']} (netns {q['netns']})")
    for item in c["pool"] + c["cache"]:
        lines.append(f"  {item['path']}: {item['kind']}, {h(item['bytes'])}"
                     + (", stale" if item["stale"] else ""))
    lines += [f"  mounted under the cache: {point}" for point in c["mounts"]]
    b = c["box"]
    lines.append(f"  box {b['current_key']}: " + ("built" if b["cached"] else "not built")
                 + (", added to Vagrant" if b["added_key"] == b["current_key"] else
                    f", Vagrant has box {b['added_key']}" if b["added_key"] else
                    ", not added to Vagrant"))
    who = c["holder"]
    lines.append("  run lock: free" if who is None else
                 f"  run lock: held by PID {who.get('pid')} ({who.get('cmdline', '')[:60]})")
    return lines + [f"  note: {n}" for n in c["notes"]]


def clean(say=lambda m: None, wait: float = 0.0) -> list[str]:
    """Remove what the VM side left that no live run holds; what was removed, a line each.

    Refused (:class:`pacemail.runlock.Busy`, naming the holder) while another
    run holds the VM side. Order: the VMs (through libvirt while it runs, then
    any qemu of ours left without it), their disks in the pool, our daemons,
    any other process in the namespace, the namespace; mounts under the cache,
    then :func:`build.prune` (stale boxes, partial files, work trees). The box
    of the current inputs stays: its file, the box added to Vagrant and its
    volume (``build.prune(keep_current=False)`` removes those too).
    """
    done: list[str] = []

    def note(line: str) -> None:
        done.append(line)
        say(line)

    with hold(paths.LOCK, wait=wait):
        _vms(note)
        for name in pool.vm_disks(pool.volumes()):
            path = pool.pool_dir() / name
            size = disk_usage(path)
            pool.delete(name)
            note(f"removed {path} ({human(size)})")
        _namespace(note)
        try:
            for point in build.unmount(paths.cache_dir()):
                note(f"unmounted {point}")
        except RuntimeError as exc:
            note(f"not removed: {exc}")
        done += [f"removed {p} ({human(size)})" for p, size in build.prune(say=say)]
    return done


def _vms(note) -> None:
    """Destroy and undefine our domains with their storage while libvirtd runs (started
    for it when it keeps some defined), then kill any qemu of ours still running."""
    if domain_configs() and not netns.libvirtd_up():
        try:
            netns.up()
        except (CommandError, RuntimeError, OSError) as exc:
            note(f"could not start libvirtd to undefine {', '.join(domain_configs())}: {exc}")
    if netns.libvirtd_up():
        listed = netns.virsh(["list", "--all", "--name"], timeout=netns.STEP_S, check=False)
        for name in domain_names(listed.stdout):
            netns.virsh(["destroy", name], timeout=netns.STEP_S, check=False)
            done = netns.virsh(["undefine", name, "--remove-all-storage"],
                               timeout=netns.STEP_S, check=False)
            note(f"removed VM {name} (destroyed, undefined with its disks)" if done.returncode == 0
                 else f"VM {name} not undefined: {done.stderr.strip()[-200:]}")
    for pid, domain in sorted(qemu_guests(processes()).items()):
        where = _netns_of(pid)
        if where == "host":
            note(f"left qemu {pid} of {domain}: it runs in the host's network namespace, "
                 "not pacemail's (a Vagrant run of your own?)")
        elif _stop(pid, signal.SIGKILL):
            note(f"killed qemu {pid} of {domain} (netns: {where})")


def _netns_of(pid: int) -> str:
    """'ours' (pmv-vagrant), 'host' (PID 1's) or 'other' (a namespace since deleted, ...)."""
    try:
        inode = os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return "other"
    for name, path in (("ours", f"/run/netns/{netns.NETNS}"), ("host", "/proc/1/ns/net")):
        try:
            if os.stat(path).st_ino == inode:
                return name
        except OSError:
            pass
    return "other"


def _namespace(note) -> None:
    """Our daemons (by their pid files), any other process in the namespace, the namespace."""
    if not netns.exists():
        return
    try:
        for line in netns.stop_daemons(lambda m: None, Deadline(netns.DOWN_S, "our daemons")):
            note(line)
    except (CommandError, RuntimeError) as exc:
        note(f"daemons: {exc}; killing what is left in netns {netns.NETNS}")
    for pid in netns.pids():
        comm = _comm(pid)
        if comm is None:   # gone with its parent meanwhile (dnsmasq's helper)
            continue
        if _stop(pid, signal.SIGTERM) or _stop(pid, signal.SIGKILL):
            note(f"stopped {comm} ({pid}) in netns {netns.NETNS}")
    netns.delete()
    note(f"deleted netns {netns.NETNS}")


def _stop(pid: int, sig: int) -> bool:
    """Send ``sig`` and wait up to STOP_S for ``pid`` to go; whether it went."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + STOP_S
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return True
        time.sleep(0.1)
    return False


def _comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None



