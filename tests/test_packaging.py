"""A wheel of pacemail holds every subpackage and the data files the code loads at run time."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

from pacemail.proc import run

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_carries_packages_templates_and_unit(tmp_path):
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path),
         str(ROOT)], timeout=300)
    (wheel,) = tmp_path.glob("pacemail-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("pacemail/__init__.py", "pacemail/proc.py", "pacemail/agents/ocf.py",
                   "pacemail/cli/__init__.py", "pacemail/fencing/guard.py",
                   "pacemail/pacemaker/cib.py",
                   "pacemail/lab/lifecycle.py", "pacemail/drills/engine.py"):
        assert module in names, module
    for template in (ROOT / "cib-templates").glob("*.yaml"):
        assert f"pacemail/cib_templates/{template.name}" in names
    assert "pacemail/controller/pacemail-controller.service" in names
    entry = [n for n in names if n.endswith("entry_points.txt")]
    assert entry and "pacemail = pacemail.cli:main" in \
        zipfile.ZipFile(wheel).read(entry[0]).decode()
