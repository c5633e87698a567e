"""Time pacemail agents against the resource-agents shell agents they replace.

    .venv/bin/python bench/run.py [--runs N] [FILTER ...]

Each action runs as a whole process, the way Pacemaker's executor runs it:
spawned, then reaped with os.wait4, whose rusage gives the child's CPU
(user+sys, including the commands a shell agent waits for) and peak RSS.
Our side runs the launcher ``pacemail agents install`` writes, installed into
a temporary OCF root. Runs of the two sides alternate, and the table shows
the median of each metric and the ratio ours/theirs. Pacemail's process
runner (pacemail.proc.run) cannot give a child's rusage, hence os.posix_spawn.

A pair is one line in PAIRS: a name, our argv and environment, theirs (None
when no shell agent can run the same job here: ours is timed alone), the
actions to run once on both sides before timing (setup) and after it
(teardown), and optionally a fixture from bench/fixtures.py that creates
what the agents manage (an interface, loop devices) around the pair.
``{ours}`` is the folder of our installed agents, ``{tmp}`` a scratch
folder; a fixture adds its own names.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

from pacemail.agents.install import install, provider_dir

from drbd_fixture import drbd_lab_node
from fixtures import local_nic, loop_filesystems, mail_daemons

HB = "/usr/lib/ocf/resource.d/heartbeat"
BASE_ENV = {
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "OCF_ROOT": "/usr/lib/ocf",
    "OCF_RESOURCE_INSTANCE": "bench",
    "OCF_RESKEY_CRM_meta_timeout": "20000",
    "HA_LOGFACILITY": "none",
}
RECURRING = {"OCF_RESKEY_CRM_meta_interval": "10000"}

# name, (our argv, env), (their argv, env), setup actions, teardown actions[, fixture]
PAIRS = [
    ("dummy monitor",
     (["{ours}/dummy", "monitor"], {**RECURRING, "OCF_RESKEY_state": "{tmp}/ours.state"}),
     ([f"{HB}/Dummy", "monitor"], {**RECURRING, "OCF_RESKEY_state": "{tmp}/theirs.state"}),
     ("start",), ("stop",)),
    ("dummy meta-data",
     (["{ours}/dummy", "meta-data"], {}),
     ([f"{HB}/IPaddr2", "meta-data"], {}),
     (), ()),
    ("vip monitor",
     (["{ours}/vip", "monitor"], {**RECURRING, "OCF_RESKEY_ip": "{net}.1", "OCF_RESKEY_nic": "{nic}",
                                  "OCF_RESKEY_cidr_netmask": "24"}),
     ([f"{HB}/IPaddr2", "monitor"], {**RECURRING, "OCF_RESKEY_ip": "{net}.2",
                                     "OCF_RESKEY_nic": "{nic}", "OCF_RESKEY_cidr_netmask": "24"}),
     ("start",), ("stop",), local_nic),
    ("mount monitor",
     (["{ours}/mount", "monitor"], {**RECURRING, "OCF_RESKEY_device": "{dev_ours}",
                                    "OCF_RESKEY_directory": "{tmp}/mnt-ours",
                                    "OCF_RESKEY_fstype": "ext4"}),
     ([f"{HB}/Filesystem", "monitor"], {**RECURRING, "OCF_RESKEY_device": "{dev_theirs}",
                                        "OCF_RESKEY_directory": "{tmp}/mnt-theirs",
                                        "OCF_RESKEY_fstype": "ext4"}),
     ("start",), ("stop",), loop_filesystems),
    ("postfix monitor",
     (["{ours}/postfix", "monitor"], {**RECURRING, "OCF_RESKEY_config_dir": "{pf_ours}"}),
     ([f"{HB}/postfix", "monitor"], {**RECURRING, "OCF_RESKEY_config_dir": "{pf_theirs}",
                                     "MAIL_CONFIG": "{pf_theirs}"}),
     (), (), mail_daemons),
    ("postfix monitor depth 10",
     (["{ours}/postfix", "monitor"], {**RECURRING, "OCF_CHECK_LEVEL": "10",
                                      "OCF_RESKEY_config_dir": "{pf_ours}",
                                      "OCF_RESKEY_smtp_address": "127.0.0.1",
                                      "OCF_RESKEY_smtp_port": "20025"}),
     ([f"{HB}/postfix", "monitor"], {**RECURRING, "OCF_CHECK_LEVEL": "10",
                                     "OCF_RESKEY_config_dir": "{pf_theirs}",
                                     "MAIL_CONFIG": "{pf_theirs}"}),
     (), (), mail_daemons),
    ("dovecot monitor",
     (["{ours}/dovecot", "monitor"], {**RECURRING, "OCF_RESKEY_config_file": "{dc_ours}/dovecot.conf",
                                      "OCF_RESKEY_pid_file": "{dc_ours}/run/master.pid"}),
     ([f"{HB}/dovecot", "monitor"], {**RECURRING, "OCF_RESKEY_config_file": "{dc_theirs}/dovecot.conf",
                                     "OCF_RESKEY_pid_file": "{dc_theirs}/run/master.pid"}),
     (), (), mail_daemons),
    ("dovecot monitor depth 10",
     (["{ours}/dovecot", "monitor"], {**RECURRING, "OCF_CHECK_LEVEL": "10",
                                      "OCF_RESKEY_config_file": "{dc_ours}/dovecot.conf",
                                      "OCF_RESKEY_pid_file": "{dc_ours}/run/master.pid",
                                      "OCF_RESKEY_imap_address": "127.0.0.1",
                                      "OCF_RESKEY_imap_port": "20143",
                                      "OCF_RESKEY_lmtp_socket": "{dc_ours}/run/lmtp"}),
     ([f"{HB}/dovecot", "monitor"], {**RECURRING, "OCF_CHECK_LEVEL": "10",
                                     "OCF_RESKEY_config_file": "{dc_theirs}/dovecot.conf",
                                     "OCF_RESKEY_pid_file": "{dc_theirs}/run/master.pid"}),
     (), (), mail_daemons),
    # One-sided: LINBIT's monitor cannot run against the lab's DRBD double (bench/README.md).
    ("drbd monitor",
     (["/usr/bin/nsenter", "--target", "{node1_pid}", "--all", "--", "{drbd_agent}", "monitor"],
      {**RECURRING, "PATH": "{lab_path}", "OCF_RESKEY_drbd_resource": "mail"}),
     None, ("start",), ("stop",), drbd_lab_node),
]


def spawn(argv, env) -> tuple[int, float, float, int]:
    """Run argv once: (exit code, wall seconds, CPU seconds, peak RSS KiB).

    fork, not posix_spawn: the kernel counts the pre-exec image in the
    child's peak RSS, and a forked copy holds only our anonymous pages, a
    vfork'd one our whole footprint (see ``floor``).
    """
    began = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - began
    return os.waitstatus_to_exitcode(status), wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def floor(runs: int) -> float:
    """Median peak RSS (KiB) wait4 reports for /bin/true: no figure below it means anything."""
    return statistics.median(spawn(["/bin/true"], BASE_ENV)[3] for _ in range(runs))


def expand(side, places) -> tuple[list[str], dict[str, str]]:
    argv, env = side
    return ([a.format(**places) for a in argv],
            {**BASE_ENV, **{k: v.format(**places) for k, v in env.items()}})


def with_action(side, action):
    argv, env = side
    return argv[:-1] + [action], env


def measure(pair, runs: int, places) -> dict[str, list[tuple[float, float, int]]]:
    name, ours, theirs, setup, teardown, *fixture = pair
    if fixture:
        with fixture[0](places) as extra:
            return measure((name, ours, theirs, setup, teardown), runs, {**places, **extra})
    sides = {"pacemail": expand(ours, places)}
    if theirs is not None:
        sides["resource-agents"] = expand(theirs, places)
    for action in setup:
        for side in sides.values():
            spawn(*with_action(side, action))
    samples = {label: [] for label in sides}
    try:
        for i in range(runs + 1):  # the first round warms caches and is dropped
            order = list(sides) if i % 2 == 0 else list(reversed(sides))
            for label in order:
                code, *metrics = spawn(*sides[label])
                if code != 0:
                    raise SystemExit(f"{name}: {label} {sides[label][0]} exited {code}")
                if i:
                    samples[label].append(tuple(metrics))
    finally:
        for action in teardown:
            for side in sides.values():
                spawn(*with_action(side, action))
    return samples


def table(results) -> str:
    rows = [("pair", "side", "wall ms", "cpu ms", "peak RSS MiB")]
    for name, samples in results:
        medians = {label: [statistics.median(s[k] for s in runs) for k in range(3)]
                   for label, runs in samples.items()}
        for label, (wall, cpu, rss) in medians.items():
            rows.append((name, label, f"{wall * 1000:.1f}", f"{cpu * 1000:.1f}", f"{rss / 1024:.1f}"))
            name = ""
        if "resource-agents" not in medians:
            rows.append(("", "resource-agents: none", "-", "-", "-"))
            continue
        ours, theirs = medians["pacemail"], medians["resource-agents"]
        rows.append(("", "ratio ours/theirs", *(f"{a / b:.2f}x" if b else "-" for a, b in zip(ours, theirs))))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))) for r in rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per side (>= 10)")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter our agents are installed for (default: this one)")
    parser.add_argument("filters", nargs="*", help="run only pairs whose name contains one of these")
    args = parser.parse_args(argv)
    if args.runs < 10:
        parser.error("--runs must be at least 10 for a meaningful median")
    chosen = [p for p in PAIRS if not args.filters or any(f in p[0] for f in args.filters)]
    with tempfile.TemporaryDirectory(prefix="pacemail-bench-") as tmp:
        install(tmp, python=args.python)
        places = {"ours": str(provider_dir(tmp)), "tmp": tmp}
        results = [(pair[0], measure(pair, args.runs, places)) for pair in chosen]
    print(f"median of {args.runs} runs per side, interleaved; agents bound to {args.python}")
    print(table(results))
    print(f"peak RSS floor (/bin/true spawned the same way): {floor(args.runs) / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
