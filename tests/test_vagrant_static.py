"""The Vagrant material without booting anything: shellcheck, vagrant validate, the box's inputs,
and the VM side as a guest on this machine: a bounded cache, checks before heavy work, bounded
time, one run at a time, and everything it leaves listed and removable."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from pacemail import runlock
from pacemail.hostres import disk_usage
from pacemail.cli import main
from pacemail.controller.description import load
from pacemail.controller.problems import errors
from pacemail.hostres import GIB, human, mem_available
from pacemail.proc import CommandError
from pacemail.vms import (box, build, guest, guests, inventory, netns, paths, pool, readiness,
                          vagrantcmd)
from pacemail.vms.deadline import Deadline

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
    # Its usual time must fit CI's 45 min, its worst case 80 (CI kills at 90).
    assert readiness.over_budget(25 * 60, environ={}) is None
    late = readiness.over_budget(35 * 60, environ={})
    assert late and "35.0 min in" in late and "past 45 min" in late
    assert "PACEMAIL_VAGRANT_DRILL=1" in late
    assert readiness.over_budget(35 * 60, environ={"PACEMAIL_VAGRANT_DRILL": "1"}) is None
    assert readiness.unavailable(environ={"PACEMAIL_VAGRANT_DRILL": "0"}) is not None
    assert readiness.DRILL_USUAL_S < readiness.DRILL_WORST_S
    # A box to add and the killed-boot test first each cost their time: a start that
    # just fits without them does not with them.
    just = readiness.CI_BUDGET_S - readiness.DRILL_USUAL_S
    assert readiness.over_budget(just, environ={}) is None
    assert "a box add included" in readiness.over_budget(just, environ={}, adding_box=True)
    assert "killed-boot" in readiness.over_budget(just, environ={}, killed_boot_first=True)
    # The worst case bounds it too, should the usual times ever come near the limit.
    assert readiness.CI_LIMIT_S - readiness.DRILL_WORST_S >= just or \
        "near CI's limit" in readiness.over_budget(just, environ={})


def test_a_deadline_bounds_the_steps_together():
    d = Deadline(0.2, "net up")
    assert d.left(30) <= 0.2
    time.sleep(0.25)
    with pytest.raises(CommandError, match="net up timed out after 0.2s"):
        d.left(30)


# -- the cache stays bounded ---------------------------------------------------------------

KEY = build.current_key()


def test_only_the_current_box_and_base_are_kept():
    current, base = box.box_file(Path("/c"), KEY).name, box.base_file(Path("/c")).name
    names = [current, "pacemail-bookworm-0123456789abcdef.box", base,
             "base-bookworm-fedcba9876543210.tar", "pacemail-bookworm-0123456789abcdef.partial",
             "base-bookworm-fedcba9876543210.partial", f"work-pacemail-bookworm-{KEY}", "home",
             "notes.txt"]
    assert build.stale(names, {current, base}) == [
        "base-bookworm-fedcba9876543210.partial", "base-bookworm-fedcba9876543210.tar",
        "pacemail-bookworm-0123456789abcdef.box", "pacemail-bookworm-0123456789abcdef.partial",
        f"work-pacemail-bookworm-{KEY}"]
    assert build.stale(names, set())[-1] == f"work-pacemail-bookworm-{KEY}"
    assert current in build.stale(names, set()) and "home" not in build.stale(names, set())
    assert box.key_of(box.box_file(Path("/c"), KEY)) == KEY
    with pytest.raises(ValueError):
        box.key_of(Path("/c/debian.box"))


@given(st.lists(st.text(min_size=1, max_size=40).filter(lambda s: "/" not in s), max_size=12),
       st.data())
def test_stale_never_touches_what_is_kept_or_not_the_builds(names, data):
    keep = set(data.draw(st.lists(st.sampled_from(names), max_size=3))) if names else set()
    gone = build.stale(names, keep)
    assert not set(gone) & keep
    assert all(build.kind(n) in ("box", "base", "partial", "work") for n in gone)
    assert set(gone) == {n for n in names if build.kind(n) and n not in keep}


@pytest.fixture
def vm_side(tmp_path, monkeypatch):
    """An isolated VM side: cache, VAGRANT_HOME, libvirt pool and run locks under tmp_path,
    libvirtd not running (volumes go as files)."""
    cache, pool_dir = tmp_path / "cache", tmp_path / "pool"
    cache.mkdir()
    pool_dir.mkdir()
    monkeypatch.setenv("PACEMAIL_CACHE_DIR", str(cache))
    monkeypatch.delenv("PACEMAIL_VAGRANT_HOME", raising=False)
    monkeypatch.setattr(netns, "POOL_DIR", str(pool_dir))
    monkeypatch.setattr(netns, "libvirtd_up", lambda: False)
    monkeypatch.setattr(runlock, "LOCK_DIR", tmp_path / "locks")
    return cache, pool_dir


def _file(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path


def _added_box(cache: Path, key: str, mtime: int) -> Path:
    """What `vagrant box add` leaves in VAGRANT_HOME, and pacemail's marker of its key."""
    image = _file(cache / "home/boxes" / paths.BOX_SLUG / "0/libvirt/box.img", 4096)
    os.utime(image, (mtime, mtime))
    (cache / "home" / vagrantcmd.MARKER).write_text(key + "\n")
    return image


def test_box_prune_removes_what_no_boot_of_the_current_box_uses(vm_side):
    cache, pool_dir = vm_side
    current, base = box.box_file(cache, KEY), box.base_file(cache)
    _file(current, 8192)
    _file(base, 8192)
    stale = [_file(cache / "pacemail-bookworm-0123456789abcdef.box", 300_000),
             _file(cache / "base-bookworm-fedcba9876543210.tar", 200_000),
             _file(cache / "pacemail-bookworm-0123456789abcdef.partial", 100_000),
             _file(cache / f"work-pacemail-bookworm-{KEY}/rootfs/etc/hostname", 50_000).parents[2],
             _file(cache / ("home/tmp/box" + "a1" * 20), 70_000),
             _file(cache / "home/tmp/vagrant-box-add-temp-123/box.img", 60_000).parent]
    unrelated = _file(cache / "home/tmp/something-else", 10)
    _added_box(cache, KEY, 1732270000)
    in_use = _file(pool_dir / pool.box_volume(1732270000), 4096)
    old_volume = _file(pool_dir / pool.box_volume(1732000000), 100_000)
    vm_disk = _file(pool_dir / "pacemail-node1.img", 4096)

    sizes = {path: disk_usage(path) for path in stale}
    out = CliRunner().invoke(main, ["vagrant", "box", "prune"])
    assert out.exit_code == 0, out.output
    for path, size in sizes.items():
        assert not path.exists() and f"removed {path} ({human(size)})" in out.output
    assert out.output.strip().splitlines()[-1] == f"freed {human(sum(sizes.values()))}"
    assert current.exists() and base.exists() and unrelated.exists()
    # A VM's disk is an overlay on some box volume: while one exists, all box volumes stay.
    assert old_volume.exists() and in_use.exists()

    vm_disk.unlink()
    removed = build.prune()
    assert removed == [(old_volume, pytest.approx(100_000, abs=8192))]
    assert in_use.exists() and vagrantcmd.added_key() == KEY


def test_a_box_volume_cut_short_by_a_killed_upload_goes_the_whole_one_stays(vm_side):
    """vagrant-libvirt uploads box.img byte for byte; a `vagrant up` killed during the
    upload leaves the current box's volume shorter, and a VM booted on it would read a
    truncated image."""
    cache, pool_dir = vm_side
    _added_box(cache, KEY, 1732270000)    # box.img of 4096 bytes
    volume = _file(pool_dir / pool.box_volume(1732270000), 1024)
    assert vagrantcmd.whole_volume() is None
    assert [p for p, _ in build.prune()] == [volume] and not volume.exists()
    volume = _file(pool_dir / pool.box_volume(1732270000), 4096)
    assert vagrantcmd.whole_volume() == volume.name
    assert build.prune() == [] and volume.exists()


def test_box_prune_removes_the_box_of_other_inputs_from_vagrant_and_the_pool(vm_side):
    """The box added for earlier inputs and its 1.24 GB volume go, through Vagrant itself."""
    if shutil.which("vagrant") is None:
        pytest.skip("vagrant is not installed (./bootstrap.sh installs it)")
    cache, pool_dir = vm_side
    image = _added_box(cache, "0123456789abcdef", 1732000000)
    (image.parent / "metadata.json").write_text('{"provider": "libvirt", "format": "qcow2"}')
    volume = _file(pool_dir / pool.box_volume(1732000000), 100_000)
    said = []
    removed = dict(build.prune(say=said.append))
    assert set(removed) == {vagrantcmd.box_dir(), volume}, said
    assert not vagrantcmd.box_dir().exists() and not volume.exists()
    assert vagrantcmd.added_key() is None
    assert not (cache / "home" / vagrantcmd.MARKER).exists()


def test_box_prune_never_deletes_a_tree_with_a_mount_in_it(vm_side, monkeypatch):
    """A killed build leaves the chroot's /dev (and /dev/pts, /proc) bound in its work tree:
    deleting that tree would delete the machine's /dev entries through the bind."""
    cache, _ = vm_side
    work = cache / "work-pacemail-bookworm-0123456789abcdef"
    _file(work / "rootfs/etc/hostname", 100)
    binds = ("22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
             f"301 22 0:5 / {work}/rootfs/dev rw,nosuid shared:2 - devtmpfs udev rw,mode=755\n"
             f"302 301 0:24 / {work}/rootfs/dev/pts rw shared:3 - devpts devpts rw,gid=5\n"
             f"303 22 0:22 / {work}/rootfs/proc rw shared:12 - proc proc rw\n")
    umounts = []
    monkeypatch.setattr(build, "run", lambda argv, **kw: umounts.append(argv))
    monkeypatch.setattr(build, "_mountinfo", lambda: binds)   # umount -l does not help
    said = []
    assert build.prune(say=said.append) == []
    assert work.is_dir() and any(f"kept {work}" in m and "still has mounts" in m for m in said)
    assert umounts == [["umount", "-l", f"{work}/rootfs/dev/pts"],
                       ["umount", "-l", f"{work}/rootfs/proc"],
                       ["umount", "-l", f"{work}/rootfs/dev"]]
    # Once unmounted, it goes.
    readings = iter([binds, "22 1 254:0 / / rw - ext4 /dev/vda rw\n"])
    monkeypatch.setattr(build, "_mountinfo", lambda: next(readings, ""))
    assert [p for p, _ in build.prune()] == [work] and not work.exists()


def test_build_refuses_before_starting_without_the_disk_it_needs(vm_side, monkeypatch):
    cache, _ = vm_side
    _file(cache / "pacemail-bookworm-0123456789abcdef.box", 100_000)
    monkeypatch.setattr(build, "free_bytes", lambda path: 3 * 10 ** 9)
    with pytest.raises(RuntimeError) as refused:
        build.build(cache)
    assert str(refused.value) == (
        f"a box build needs 5.4 GB free under {cache} (base tar, root file system, images "
        "and the box at once); 3.0 GB free (`pacemail vagrant box prune` frees 102.4 kB)")
    assert sorted(os.listdir(cache)) == ["pacemail-bookworm-0123456789abcdef.box"]
    assert build.build_shortfall(build.BUILD_FREE_B, cache, 0) is None


def test_box_prune_is_refused_while_another_run_holds_the_vm_side(vm_side, tmp_path):
    cache, _ = vm_side
    old = _file(cache / "pacemail-bookworm-0123456789abcdef.box", 1000)
    code = ("import sys, time\nfrom pacemail.runlock import hold\n"
            "with hold('vagrant'):\n    print('held', flush=True)\n    time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PACEMAIL_LOCK_DIR": str(tmp_path / "locks")})
    try:
        assert holder.stdout.readline().strip() == "held"
        out = CliRunner().invoke(main, ["vagrant", "box", "prune"])
        assert out.exit_code == 1
        assert f"vagrant is in use by PID {holder.pid}" in out.output
        assert old.exists()
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert CliRunner().invoke(main, ["vagrant", "box", "prune", "--wait", "5"]).exit_code == 0
    assert not old.exists()


# -- the box in Vagrant and libvirt's pool ---------------------------------------------------

def test_box_volume_is_named_as_vagrant_libvirt_names_it():
    assert pool.box_volume(1732270000) == \
        "pacemail-VAGRANTSLASH-bookworm-local_vagrant_box_image_0_1732270000_box.img"
    found = list(Path("/usr/share/rubygems-integration/all/gems").glob(
        "vagrant-libvirt-*/lib/vagrant-libvirt/action/handle_box_image.rb"))
    if not found:
        pytest.skip("vagrant-libvirt is not installed")
    source = found[0].read_text()
    assert "gsub('/', '-VAGRANTSLASH-')" in source
    assert 'version = "0_#{File.mtime(path).to_i}"' in source
    assert '"_vagrant_box_image_#{version}_#{name' in source


def test_stale_box_volumes_wait_for_the_vms_to_go():
    current, old = pool.box_volume(2), pool.box_volume(1)
    names = [old, current, "pacemail-node1.img", "pacemail-node1-vdb.qcow2", "debian.img"]
    assert pool.vm_disks(names) == ["pacemail-node1-vdb.qcow2", "pacemail-node1.img"]
    assert pool.stale_box_volumes(names, current) == []
    assert pool.stale_box_volumes([old, current, "debian.img"], current) == [old]
    assert pool.stale_box_volumes([old, current], None) == sorted([old, current])
    with pytest.raises(ValueError):
        pool.delete("../etc/passwd")


def test_a_changed_box_is_refused_while_vms_of_the_old_one_exist(vm_side):
    cache, pool_dir = vm_side
    _added_box(cache, "0123456789abcdef", 1732000000)
    old_volume = _file(pool_dir / pool.box_volume(1732000000), 4096)
    _file(pool_dir / "pacemail-node2.img", 4096)
    new = _file(box.box_file(cache, KEY), 1000)
    with pytest.raises(RuntimeError, match=r"pacemail-node2.img .*destroy them first"):
        vagrantcmd.ensure_box(new)
    assert old_volume.exists() and vagrantcmd.added_key() == "0123456789abcdef"
    # The box added last is not added again (no upload of a new volume per add).
    (cache / "home" / vagrantcmd.MARKER).write_text(KEY + "\n")
    assert vagrantcmd.ensure_box(new) is False


def test_vagrant_up_is_what_boots():
    nodes = readiness.NODES
    assert vagrantcmd.booting(["up"], nodes) == list(nodes)
    assert vagrantcmd.booting(["--debug", "up", "--provider", "libvirt", "node2"], nodes) == \
        ["node2"]
    assert vagrantcmd.booting(["destroy", "-f"], nodes) == []
    assert vagrantcmd.booting(["ssh", "node1"], nodes) == []


# -- room before a boot ---------------------------------------------------------------------

MEMINFO = """MemTotal:        4028536 kB
MemFree:          312204 kB
MemAvailable:    2197412 kB
Buffers:           81232 kB
Cached:          1702248 kB
"""


def test_a_boot_needs_memory_for_each_vm_and_room_in_the_pool():
    available = mem_available(MEMINFO)
    assert available == 2197412 * 1024
    short = readiness.boot_shortfall(3, available, 20 * GIB)
    assert short == ("booting 3 VMs needs 3.4 GB of memory (966.4 MB each, 536.9 MB for "
                     "vagrant and libvirtd); MemAvailable is 2.3 GB")
    assert readiness.boot_shortfall(1, available, 20 * GIB) is None
    pool_short = readiness.boot_shortfall(1, available, 2 * GIB)
    assert pool_short == (f"booting the VMs needs 4.3 GB free under {netns.POOL_DIR} "
                          "(the box's volume and the VMs' disks); 2.1 GB free")
    assert readiness.boot_shortfall(0, 0, 0) is None


def test_only_the_vms_not_running_need_room(monkeypatch):
    qemu = [(4100 + i, ["/usr/bin/qemu-system-x86_64", "-name",
                        f"guest=pacemail-{n},debug-threads=on"]) for i, n in enumerate(
                            readiness.NODES)]
    monkeypatch.setattr(readiness, "mem_available", lambda: GIB)
    monkeypatch.setattr(inventory, "processes", lambda: qemu)
    assert readiness.room_to_boot() is None
    monkeypatch.setattr(inventory, "processes", lambda: qemu[:2])
    assert readiness.room_to_boot().startswith("booting 1 VM needs 1.5 GB of memory")


# -- what the VM side leaves on the machine --------------------------------------------------

QEMU_ARGV = ["/usr/bin/qemu-system-x86_64", "-name", "guest=pacemail-node1,debug-threads=on",
             "-S", "-object", "secret,id=masterKey0,format=raw,file=/var/lib/libvirt/qemu/"
             "domain-3-pacemail-node1/master-key.aes", "-machine", "pc-i440fx-7.2,usb=off",
             "-accel", "tcg,tb-size=256", "-m", "512"]


def test_our_qemu_processes_are_found_by_their_guest_name():
    procs = [(812, QEMU_ARGV),
             (813, ["/usr/bin/qemu-system-x86_64", "-name", "guest=debian12,debug-threads=on"]),
             (900, ["grep", "guest=pacemail-node1"]),
             (901, ["/usr/bin/python3", "-m", "pacemail", "guest=pacemail-node2"]),
             (902, [])]
    assert inventory.qemu_guests(procs) == {812: "pacemail-node1"}


@given(st.lists(st.text(max_size=30), min_size=1, max_size=6))
def test_nothing_but_qemu_is_ever_taken_for_a_vm(argv):
    if not os.path.basename(argv[0]).startswith("qemu-system"):
        assert inventory.qemu_guests([(1, argv + ["guest=pacemail-node1"])]) == {}


@given(st.from_regex(r"node[0-9]{1,3}|client", fullmatch=True))
def test_the_guest_name_is_read_back(node):
    argv = ["/usr/bin/qemu-system-x86_64", "-name", f"guest=pacemail-{node},debug-threads=on"]
    assert inventory.qemu_guests([(7, argv)]) == {7: f"pacemail-{node}"}


def test_our_domains_are_read_from_virsh_list():
    listed = "pacemail-node1\npacemail-node3\ndebian12\n\n"
    assert inventory.domain_names(listed) == ["pacemail-node1", "pacemail-node3"]
    assert inventory.domain_names("\n") == []


def test_a_killed_builds_binds_are_found_under_the_cache():
    cache = Path("/var/cache/pacemail/vagrant")
    work = cache / "work-pacemail-bookworm-0123456789abcdef/rootfs"
    info = ("22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
            f"301 22 0:5 / {work}/dev rw,nosuid shared:2 - devtmpfs udev rw,mode=755\n"
            f"302 301 0:24 / {work}/dev/pts rw shared:3 - devpts devpts rw,gid=5\n"
            f"303 22 0:22 / {work}/proc rw shared:12 - proc proc rw\n"
            f"304 22 0:23 / {work}/sys rw shared:7 - sysfs sysfs rw\n"
            "305 22 0:23 / /var/cache/pacemail/vagrant2 rw - tmpfs tmpfs rw\n")
    points = build.mounts_under(info, cache)
    assert set(points) == {f"{work}/dev", f"{work}/dev/pts", f"{work}/proc", f"{work}/sys"}
    assert points.index(f"{work}/dev/pts") < points.index(f"{work}/dev")   # deepest first


def test_census_lists_the_vm_side_as_data(vm_side, monkeypatch):
    cache, pool_dir = vm_side
    _file(cache / "pacemail-bookworm-0123456789abcdef.partial", 4096)
    _file(pool_dir / "pacemail-node1.img", 4096)
    monkeypatch.setattr(inventory, "processes", lambda: [(812, QEMU_ARGV)])
    c = inventory.census()
    assert c["netns"]["name"] == netns.NETNS
    assert c["qemu"][0]["pid"] == 812 and c["qemu"][0]["domain"] == "pacemail-node1"
    assert c["pool"] == [{"path": str(pool_dir / "pacemail-node1.img"), "bytes": 4096,
                          "kind": "disk", "stale": False}]
    assert {"path": str(cache / "pacemail-bookworm-0123456789abcdef.partial"),
            "kind": "partial", "bytes": 4096, "stale": True} in c["cache"]
    assert c["box"]["current_key"] == KEY and c["box"]["cached"] is None
    assert c["holder"] is None and set(c["daemons"]) == {"virtlogd", "libvirtd", "sshd"}
    assert c["disk"][str(cache)] == 4096 and c["disk"][f"{pool_dir}/pacemail-*"] == 4096
    text = "\n".join(inventory.describe(c))
    assert "qemu 812 runs pacemail-node1" in text
    assert f"{pool_dir}/pacemail-node1.img: disk, 4.1 kB" in text
    assert f"{cache}/pacemail-bookworm-0123456789abcdef.partial: partial, 4.1 kB, stale" in text
    assert f"box {KEY}: not built, not added to Vagrant" in text and "run lock: free" in text


def test_clean_removes_in_an_order_that_leaves_nothing_running_on_what_goes(vm_side,
                                                                              monkeypatch):
    """VMs before their disks, the daemons before the namespace, mounts before the trees they
    are in; the current box's volume stays (prune's business)."""
    done = []
    listing = subprocess.CompletedProcess([], 0, "pacemail-node1\ndebian12\n", "")

    def virsh(args, timeout, check=True):
        done.append(("virsh", args[0]))
        return listing if args[0] == "list" else subprocess.CompletedProcess([], 0, "", "")

    monkeypatch.setattr(inventory, "domain_configs", lambda: ["pacemail-node1"])
    monkeypatch.setattr(netns, "virsh", virsh)
    monkeypatch.setattr(netns, "libvirtd_up", lambda: True)
    monkeypatch.setattr(netns, "exists", lambda: True)
    monkeypatch.setattr(inventory, "processes", lambda: [(812, QEMU_ARGV)])
    monkeypatch.setattr(inventory, "_netns_of", lambda pid: "ours")
    monkeypatch.setattr(inventory, "_stop", lambda pid, sig: done.append(("kill", pid)) or True)
    monkeypatch.setattr(inventory, "_comm", lambda pid: "dnsmasq")
    monkeypatch.setattr(pool, "volumes", lambda: [pool.box_volume(1), "pacemail-node1.img"])
    monkeypatch.setattr(pool, "delete", lambda name, timeout=0: done.append(("delete", name)))
    monkeypatch.setattr(netns, "stop_daemons",
                        lambda say, d: done.append(("stop", "daemons")) or ["stopped libvirtd (5)"])
    monkeypatch.setattr(netns, "pids", lambda: [901])
    monkeypatch.setattr(netns, "delete", lambda: done.append(("delete", "netns")))
    monkeypatch.setattr(build, "unmount", lambda path: done.append(("umount", path)) or [])
    monkeypatch.setattr(build, "prune", lambda say: done.append(("prune", "")) or [])

    lines = inventory.clean()
    assert done == [("virsh", "list"), ("virsh", "destroy"), ("virsh", "undefine"),
                    ("kill", 812), ("delete", "pacemail-node1.img"), ("stop", "daemons"),
                    ("kill", 901), ("delete", "netns"), ("umount", paths.cache_dir()),
                    ("prune", "")]
    assert lines[0] == "removed VM pacemail-node1 (destroyed, undefined with its disks)"
    assert "stopped dnsmasq (901) in netns pmv-vagrant" in lines
