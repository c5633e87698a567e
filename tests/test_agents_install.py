"""Installing the agents, and Pacemaker's own tools (pcs, crmsh) reading them."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pwd
import pytest

from pacemail.agents import NAMES
from pacemail.agents import load as load_agent
from pacemail.agents.install import (
    agent_path, default_python, default_root, install, provider_dir, status, uninstall,
)
from pacemail.proc import run


def pacemail_cli(*args):
    return run([sys.executable, "-m", "pacemail.cli", *args], timeout=60, check=False)


def test_install_writes_launchers_bound_to_this_interpreter(tmp_path):
    before = install(tmp_path)
    assert [(i.name, i.state) for i in before] == [(n, "missing") for n in NAMES]
    for name in NAMES:
        path = tmp_path / "resource.d" / "pacemail" / name
        assert path.stat().st_mode & 0o777 == 0o755
        # -IS: isolated and without site's .pth processing (most of an agent's start-up).
        assert path.read_text().splitlines()[0] == f"#!{default_python()} -IS"
        assert run([str(path), "meta-data"], timeout=60, check=False).returncode == 0
        assert run([str(path)], timeout=60, check=False).returncode == 3


def test_install_is_idempotent_and_repairs_changed_files(tmp_path):
    install(tmp_path)
    path = agent_path(tmp_path, "dummy")
    inode = path.stat().st_ino
    assert {i.state for i in install(tmp_path)} == {"installed"}
    assert path.stat().st_ino == inode  # nothing rewritten
    path.write_text("#!/bin/sh\nexit 0\n")
    assert [i.state for i in status(tmp_path) if i.name == "dummy"] == ["outdated"]
    install(tmp_path)
    assert {i.state for i in status(tmp_path)} == {"installed"}


def test_uninstall_removes_agents_and_empty_folder_only(tmp_path):
    install(tmp_path)
    removed = uninstall(tmp_path)
    assert removed == [agent_path(tmp_path, n) for n in NAMES]
    assert not (tmp_path / "resource.d" / "pacemail").exists()
    assert uninstall(tmp_path) == []
    install(tmp_path)
    foreign = tmp_path / "resource.d" / "pacemail" / "someone-elses"
    foreign.write_text("keep me")
    uninstall(tmp_path)
    assert foreign.read_text() == "keep me"


def test_interpreter_name_is_stable_across_aliases(tmp_path):
    assert os.path.samefile(default_python(), sys.executable)
    install(tmp_path)
    for alias in ("python", "python3"):
        venv_alias = Path(sys.prefix) / "bin" / alias
        if venv_alias.exists():
            done = run([str(venv_alias), "-m", "pacemail.cli", "agents", "list", "--ocf-root",
                        str(tmp_path)], timeout=60, check=False)
            assert "outdated" not in done.stdout and "installed" in done.stdout


def test_default_root_follows_ocf_root():
    assert default_root({"OCF_ROOT": "/opt/ocf"}) == Path("/opt/ocf")
    assert default_root({}) == Path("/usr/lib/ocf")


def test_cli_install_list_uninstall_doc(tmp_path):
    root = str(tmp_path)
    listed = pacemail_cli("agents", "list", "--ocf-root", root)
    assert listed.returncode == 0 and "missing" in listed.stdout
    first = pacemail_cli("agents", "install", "--ocf-root", root)
    assert first.returncode == 0 and "written" in first.stdout
    again = pacemail_cli("agents", "install", "--ocf-root", root)
    assert "written" not in again.stdout and "unchanged" in again.stdout
    listed = pacemail_cli("agents", "list", "--ocf-root", root)
    for name in NAMES:
        line = next(line for line in listed.stdout.splitlines() if line.startswith(name + " "))
        assert "installed" in line and str(agent_path(tmp_path, name)) in line
    gone = pacemail_cli("agents", "uninstall", "--ocf-root", root)
    assert gone.returncode == 0 and "removed" in gone.stdout
    doc = pacemail_cli("agents", "doc", "dummy")
    assert doc.returncode == 0
    assert doc.stdout.startswith("# ocf:pacemail:dummy ")
    assert "### `state`" in doc.stdout and "### `fake`" in doc.stdout
    assert "| monitor | 20s | 10s |" in doc.stdout


@pytest.fixture(scope="module")
def system_ocf():
    """The agents installed into the real OCF root, where pcs and crmsh look, for this
    module only: the provider folder is put back as it was (files, modes, or absence)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to install into /usr/lib/ocf")
    folder = provider_dir(Path("/usr/lib/ocf"))
    before = {f: (f.read_bytes(), f.stat().st_mode) for f in folder.iterdir()} \
        if folder.is_dir() else None
    install(Path("/usr/lib/ocf"))
    try:
        yield folder
    finally:
        if before is None:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            for f in folder.iterdir():
                if f not in before:
                    f.unlink()
            for f, (data, mode) in before.items():
                f.write_bytes(data)
                f.chmod(mode)


def _tools(tool):
    if shutil.which(tool) is None or shutil.which("crm_resource") is None:
        pytest.skip(f"{tool} or crm_resource missing: install the Debian packages pcs, crmsh, pacemaker")


@pytest.mark.parametrize("name", NAMES)
def test_pcs_resource_describe(name, system_ocf):
    _tools("pcs")
    done = run(["pcs", "resource", "describe", f"ocf:pacemail:{name}"], timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"ocf:pacemail:{name} - ")
    for param in load_agent(name).params:
        assert f"  {param.name}" in done.stdout


@pytest.mark.parametrize("name", NAMES)
def test_crm_ra_info(name, system_ocf):
    _tools("crm")
    done = run(["crm", "ra", "info", f"ocf:pacemail:{name}"], timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"(ocf:pacemail:{name})" in done.stdout
    assert "ERROR" not in done.stdout + done.stderr


def test_meta_data_runs_as_hacluster():
    """Pacemaker's controller asks agents for meta-data as the hacluster user."""
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("needs root and runuser to act as hacluster")
    try:
        pwd.getpwnam("hacluster")
    except KeyError:
        pytest.skip("no hacluster user (pacemaker not installed)")
    with tempfile.TemporaryDirectory() as root:  # pytest's tmp_path is closed to other users
        os.chmod(root, 0o755)
        install(Path(root))
        for name in NAMES:
            done = run(["runuser", "-u", "hacluster", "--", str(agent_path(Path(root), name)),
                        "meta-data"], timeout=60, check=False)
            assert done.returncode == 0, (name, done.stderr)
            assert f'<resource-agent name="{name}"' in done.stdout
