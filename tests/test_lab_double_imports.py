"""The lab's DRBD double starts cheaply: its hot paths import no heavy module.

The DRBD agent and the mount agent call ``drbdsetup``/``drbdadm`` 3-4 times on
every failover's critical path; in the lab those are the double, launched like
every pacemail tool (``python -IS`` through pacemail.agents.install.script).
A module such as subprocess or pathlib pulled in on those paths costs
milliseconds per call, which the lab's failover measurements would then show.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from pacemail.agents.install import script
from pacemail.lab import paths, topology

HEAVY = ("subprocess", "threading", "socket", "signal", "dataclasses", "inspect", "pathlib",
         "pacemail.proc", "pacemail.lab.topology")


def launch(tmp_path: Path, body: str) -> list[str]:
    """Run ``body`` as the lab's launchers do; its stdout lines."""
    program = tmp_path / "launcher"
    program.write_text(script("test: what the DRBD double imports", body))
    program.chmod(0o755)
    done = subprocess.run([str(program)], capture_output=True, text=True, timeout=30,
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_status_primary_and_role_import_no_heavy_module(tmp_path):
    me = os.uname().nodename
    lab_dir = tmp_path / "state" / "t1"
    (lab_dir / "drbd").mkdir(parents=True)
    (lab_dir / "drbd" / "mail.json").write_text(json.dumps({
        "minor": 0, "kernel": "9.2.8",
        "hosts": {me: {"node_id": 0}, "peer": {"node_id": 1}}}))
    (tmp_path / "lab").write_text("t1\n")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "mail.json").write_text(json.dumps({
        "role": "Secondary", "disk": "UpToDate", "suspended": False,
        "peers": {"peer": {"connected": True, "role": "Secondary", "disk": "UpToDate"}}}))
    lines = launch(tmp_path, f"""\
import pacemail.lab.drbd_double as double
double.LAB_NAME_FILE = {str(tmp_path / "lab")!r}
double.STATE_DIR = {str(tmp_path / "state")!r}
double.RUN_DIR = {str(run_dir)!r}
codes = [double.drbdsetup(["status", "mail", "--json"]),
         double.drbdadm(["primary", "mail"]), double.drbdadm(["role", "mail"])]
print(codes)
print(" ".join(sorted(sys.modules)))
""")
    *status, role, codes, modules = lines
    (resource,) = json.loads("\n".join(status))
    assert resource["name"] == "mail" and resource["role"] == "Secondary"
    assert resource["connections"][0]["connection-state"] == "Connected"
    assert (role, codes) == ("Primary", "[0, 0, 0]")
    meta = json.loads((lab_dir / "nodes" / me / "drbd-meta" / "mail.json").read_text())
    assert meta == {"outdated": False, "generation": 1}
    loaded = set(modules.split())
    assert "pacemail.lab.drbd_double" in loaded
    assert sorted(loaded & set(HEAVY)) == []


def test_the_check_sees_heavy_modules_when_they_are_imported(tmp_path):
    # The control: the same launcher importing lab.topology (dataclasses, pathlib, re)
    # does list them, so the check above cannot pass by looking at the wrong thing.
    (modules,) = launch(tmp_path, "import pacemail.lab.topology\n"
                                  "print(' '.join(sorted(sys.modules)))\n")
    assert {"dataclasses", "inspect", "pathlib", "pacemail.lab.topology"} <= set(modules.split())


def test_topology_offers_the_paths_module_s_locations():
    assert topology.STATE_ROOT == Path(paths.STATE_DIR)
    assert topology.LAB_NAME_FILE is paths.LAB_NAME_FILE
    assert topology.Lab("t1", 2).dir == Path(paths.STATE_DIR) / "t1"
