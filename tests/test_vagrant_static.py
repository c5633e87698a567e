"""The Vagrant material without booting anything: shellcheck, vagrant validate, the box's inputs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pacemail.controller.description import load
from pacemail.controller.problems import errors
from pacemail.vms import box, build, guest, guests, netns, paths, readiness, vagrantcmd

VAGRANT_DIR = paths.vagrant_dir()
SCRIPTS = sorted(paths.provision_dir().glob("*.sh"))
TEMPLATE = paths.checkout() / "cib-templates" / "mail-vagrant.yaml"


def test_provisioning_scripts_are_shellcheck_clean():
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (./bootstrap.sh installs it)")
    assert {p.name for p in SCRIPTS} >= {"lib.sh", "install.sh", "image.sh", "cluster.sh",
                                          "apply.sh"}
    done = subprocess.run(["shellcheck", "-x", "-s", "bash", *map(str, SCRIPTS)],
                          cwd=paths.checkout(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout


def _validate(**settings):
    if shutil.which("vagrant") is None:
        pytest.skip("vagrant is not installed (./bootstrap.sh installs it)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACEMAIL_")}
    env.update(settings)
    return subprocess.run(["vagrant", "validate"], cwd=VAGRANT_DIR, env=env,
                          capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("settings", [
    {},
    {"PACEMAIL_BOX": "local", "PACEMAIL_ISOLATED": "1", "PACEMAIL_DRBD": "9",
     "PACEMAIL_CLIENT": "vm", "PACEMAIL_NET": "192.168.56"},
], ids=["defaults", "local-box-drbd9-client-vm"])
def test_vagrantfile_validates(settings):
    done = _validate(**settings)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "validated successfully" in done.stdout


def test_vagrantfile_refuses_a_bad_setting():
    done = _validate(PACEMAIL_DRBD="7")
    assert done.returncode != 0
    assert "PACEMAIL_DRBD must be 8 or 9" in done.stdout + done.stderr


def _description(path: Path):
    parsed = load(str(path))
    assert not errors(parsed.problems), [str(p) for p in errors(parsed.problems)]
    return parsed.description


def test_vagrant_template_keeps_drbd_off_the_quorum_node(tmp_path):
    text = TEMPLATE.read_text()
    assert "node: node3, score: -INFINITY" in text
    assert [n.name for n in _description(TEMPLATE).nodes] == ["node1", "node2", "node3"]


def test_vagrant_template_without_proxysql_blocks_is_valid(tmp_path):
    """What apply.sh's sed leaves where ProxySQL is not installed."""
    lines, keep = [], True
    for line in TEMPLATE.read_text().splitlines(keepends=True):
        if "# proxysql-begin" in line:
            keep = False
        if keep:
            lines.append(line)
        if "# proxysql-end" in line:
            keep = True
    stripped = tmp_path / "mail.yaml"
    stripped.write_text("".join(lines))
    assert _description(TEMPLATE).proxysql is not None
    assert _description(stripped).proxysql is None


def test_box_key_follows_the_baked_scripts(tmp_path):
    scripts = tmp_path / "provision"
    shutil.copytree(paths.provision_dir(), scripts)
    deps = build.dependencies(paths.checkout())
    before = box.box_key(scripts, deps)
    assert before == box.box_key(scripts, deps)
    (scripts / "install.sh").write_text((scripts / "install.sh").read_text() + "\n# changed\n")
    assert box.box_key(scripts, deps) != before
    assert box.box_key(paths.provision_dir(), deps + ["extra-dep"]) != box.box_key(
        paths.provision_dir(), deps)
    baked = box.box_key(scripts, deps)
    (scripts / "cluster.sh").write_text("# not baked into the image\n")
    assert box.box_key(scripts, deps) == baked


def test_box_vagrantfile_boots_without_bootloader_under_tcg():
    assert 'libvirt.driver = "qemu"' in box.VAGRANTFILE
    assert "libvirt.kernel" in box.VAGRANTFILE and "libvirt.initrd" in box.VAGRANTFILE
    assert "cpu_model = \"qemu64\"" in box.VAGRANTFILE
    assert box.METADATA == {"provider": "libvirt", "format": "qcow2",
                            "virtual_size": box.VIRTUAL_SIZE_GB}


def test_mounts_under_lists_deepest_first():
    info = ("22 1 8:1 / / rw - ext4 /dev/vda rw\n"
            "30 22 0:5 / /w/rootfs/dev rw - devtmpfs udev rw\n"
            "31 30 0:6 / /w/rootfs/dev/pts rw - devpts devpts rw\n"
            "32 22 0:7 / /w/rootfs2/proc rw - proc proc rw\n")
    assert build.mounts_under(info, Path("/w/rootfs")) == ["/w/rootfs/dev/pts", "/w/rootfs/dev"]
    assert build.mounts_under(info, Path("/elsewhere")) == []


def test_vagrant_runs_bounded_in_the_namespace():
    argv, env = vagrantcmd.isolated(["up", "--no-parallel"], 900, environ={"PATH": "/usr/bin"})
    assert argv[:5] == ["timeout", "--foreground", "--kill-after=30", "900", "ip"]
    assert argv[5:] == ["netns", "exec", netns.NETNS, "vagrant", "up", "--no-parallel"]
    assert env["PACEMAIL_BOX"] == "local" and env["PACEMAIL_ISOLATED"] == "1"
    assert env["VAGRANT_CWD"] == str(VAGRANT_DIR)
    # libvirt's qemu (user libvirt-qemu) reads the box's kernel: not under /root
    assert env["VAGRANT_HOME"] == str(paths.cache_dir({}) / "home")


def test_vagrant_gets_the_namespace_fence_key_unless_told_another(tmp_path):
    environ = {"PATH": "/usr/bin", "PACEMAIL_VAGRANT_STATE": str(tmp_path)}
    assert "PACEMAIL_FENCE_KEY" not in vagrantcmd.isolated_env(environ)
    netns.sshd_files(tmp_path)
    assert vagrantcmd.isolated_env(environ)["PACEMAIL_FENCE_KEY"] == str(tmp_path / "fence_key")
    assert vagrantcmd.isolated_env({**environ, "PACEMAIL_FENCE_KEY": "/k"})[
        "PACEMAIL_FENCE_KEY"] == "/k"
    config = (tmp_path / "sshd_config").read_text()
    assert "PasswordAuthentication no" in config and f"HostKey {tmp_path}" in config
    authorized = (tmp_path / "authorized_keys").read_text()
    assert authorized.startswith('from="198.18.0.0/15",restrict,pty ssh-ed25519 ')


def test_proc_drbd_84_parsed():
    text = ("version: 8.4.11 (api:1/proto:86-101)\n"
            " 0: cs:SyncSource ro:Primary/Secondary ds:UpToDate/Inconsistent C r-----\n"
            "    ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0\n")
    assert guests.proc_drbd(text) == {"cs": "SyncSource", "role": "Primary",
                                      "peer_role": "Secondary", "disk": "UpToDate",
                                      "peer_disk": "Inconsistent"}
    assert guests.proc_drbd(text, minor=1) == {}


def test_guest_mail_config_lets_the_private_network_relay():
    settings = guest.postfix_settings("198.18.1.0/24")
    assert settings["mynetworks"] == "127.0.0.0/8 198.18.1.0/24"
    assert settings["queue_directory"].startswith("/srv/mail/")  # queue survives a failover
    assert settings["virtual_transport"].startswith("lmtp:")  # delivery through dovecot


def test_vagrantfile_kernel_command_line_is_the_boxs():
    """The Vagrantfile repeats the local box's command line to add systemd.hostname per VM
    (Vagrant's own hostname step cost ~20 s per VM under TCG)."""
    text = (VAGRANT_DIR / "Vagrantfile").read_text()
    assert f'BOX_CMD_LINE = "{box.CMD_LINE}"' in text
    assert "systemd.hostname=#{name}" in text


def test_local_box_provisioning_skips_the_wheel_build():
    """pacemail.sh (not baked into the box) replaces install.sh's pip install on the local box."""
    text = (VAGRANT_DIR / "Vagrantfile").read_text()
    assert "%w[pacemail cluster apply]" in text
    assert "pacemail.sh" not in box.BAKED_SCRIPTS


def test_drbd_handler_logging_survives_no_stdio():
    """DRBD's kernel helper runs fence-peer with file descriptors 0-2 closed (Python's
    sys.stderr is None): on the VMs the handler died on its first log line (AttributeError,
    exit 1, "fence-peer helper broken") and no promotion after a power-off could complete."""
    code = ("import os, sys\n"
            "for fd in (0, 1, 2):\n"
            "    os.close(fd)\n"
            "sys.stdin = sys.stdout = sys.stderr = None\n"
            "from pacemail.agents.ocf import Log\n"
            "Log('fence-peer', 'mail', {'HA_LOGFACILITY': 'none'}).info('no stdio')\n"
            "Log('fence-peer', 'mail', {}).warning('no stdio, syslog')\n")
    done = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert done.returncode == 0


def test_libvirtd_starts_with_kvm_hidden():
    """libvirt re-probed qemu on nearly every call while /dev/kvm existed but was closed to
    its qemu user (probe: KVM enabled; cache check: not usable): libvirtd starts in a mount
    namespace of its own with /dev/kvm covered; virtlogd as before."""
    argv = netns.daemon_argv("libvirtd")
    assert argv[:4] == ["ip", "netns", "exec", netns.NETNS]
    assert argv[4:8] == ["unshare", "--mount", "--propagation", "private"]
    assert argv[-4:] == ["-m", "pacemail.vms.nokvm", "libvirtd", "-d"]
    assert netns.daemon_argv("virtlogd") == ["ip", "netns", "exec", netns.NETNS, "virtlogd", "-d"]


def test_libvirtd_qemu_conf_has_no_domain_namespaces():
    from pacemail.vms import nokvm

    text = nokvm.qemu_conf('user = "libvirt-qemu"\nnamespaces = [ "mount" ]\n#namespaces = []\n')
    assert 'user = "libvirt-qemu"' in text
    assert [line for line in text.splitlines() if line.startswith("namespaces")] == \
        ["namespaces = []"]


def test_the_vm_drill_starts_only_while_ci_has_time_for_it():
    assert readiness.over_budget(12 * 60, environ={}) is None
    late = readiness.over_budget(19 * 60, environ={})
    assert late and "19.0 min in" in late and "PACEMAIL_VAGRANT_DRILL=1" in late
    assert readiness.over_budget(19 * 60, environ={"PACEMAIL_VAGRANT_DRILL": "1"}) is None
    assert readiness.unavailable(environ={"PACEMAIL_VAGRANT_DRILL": "0"}) is not None
