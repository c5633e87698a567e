"""Every agent under hostile parameter values, run as Pacemaker runs it.

Each run is the installed launcher (``$OCF_ROOT/resource.d/pacemail/<agent>``)
in a fresh process with a clean environment: ``validate-all``, and the probe
(``monitor`` with ``CRM_meta_interval=0``), which Pacemaker runs on every
node before anything is started. Whatever the values (type swaps, control
characters, bytes that are not UTF-8, unicode digits, huge numbers, 10,000
characters, path tricks, shell metacharacters), an agent must answer with an
OCF exit code (0-7), never a traceback, within its time, without creating
anything outside the scratch folder (its run folder is ``HA_RSCTMP`` there,
its working directory too) and without a shell running any of it: every
command-like value would touch a canary file.
"""

from __future__ import annotations

import os
import time
import uuid
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pacemail.agents import NAMES
from pacemail.agents import load as load_agent
from pacemail.agents.install import agent_path, install
from pacemail.agents.ocf import OCF_ERR_CONFIGURED, OCF_NOT_RUNNING, OCF_SUCCESS
from pacemail.proc import run

MARKER = f"pmhostile{uuid.uuid4().hex[:8]}"  # in every path-like value: a leak is findable
OP_TIMEOUT_MS = 10_000   # Pacemaker's op timeout for each run
TIME_LIMIT_S = 20.0      # the op timeout, plus an interpreter start on a busy machine
EXAMPLES = 40            # per agent; each is two processes
# Where a value escaping its root would land (the agents' default run folders too).
WATCHED = ("/", "/tmp", "/var/tmp", "/dev/shm", "/run", "/run/pacemail", "/run/pacemail-drbd",
           "/etc", "/root")
# Values that make every parameter of an agent well formed but name nothing on this node.
BASE = {
    "dummy": lambda root: {"state": f"{root}/dummy.state"},
    "vip": lambda root: {"ip": "192.0.2.10"},
    "mount": lambda root: {"device": f"{root}/no-device", "directory": f"{root}/mnt",
                           "fstype": "ext4"},
    "drbd": lambda root: {"drbd_resource": "r0"},
    "postfix": lambda root: {"config_dir": f"{root}/postfix"},
    "dovecot": lambda root: {"config_file": f"{root}/dovecot.conf"},
    "proxysql": lambda root: {"admin_password_file": f"{root}/admin.pw",
                              "datadir": f"{root}/proxysql"},
}


class Scratch:
    """The one folder the agents may write in: run folder, working directory, canary."""

    def __init__(self, root):
        self.root = root
        self.rsctmp = root / "rsctmp"
        self.cwd = root / "cwd" / "a" / "b"  # ../../ lands in root/cwd, still inside
        self.canary = root / "canary"
        self.ocf_root = root / "ocf"
        for folder in (self.rsctmp, self.cwd):
            folder.mkdir(parents=True, exist_ok=True)

    def env(self, agent: str, params: dict, *, probe: bool, extra=None) -> dict:
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HA_LOGFACILITY": "none",
               "HA_RSCTMP": str(self.rsctmp), "OCF_ROOT": str(self.ocf_root),
               "OCF_RESOURCE_INSTANCE": f"hostile-{agent}",
               "OCF_RESKEY_CRM_meta_timeout": str(OP_TIMEOUT_MS), **(extra or {})}
        if probe:
            env["OCF_RESKEY_CRM_meta_interval"] = "0"
        env.update((f"OCF_RESKEY_{k}", v) for k, v in params.items())
        return env

    def run(self, agent: str, action: str, params: dict, *, probe=False, extra=None):
        began = time.monotonic()
        done = run([str(agent_path(self.ocf_root, agent)), action], timeout=TIME_LIMIT_S * 2,
                   check=False, env=self.env(agent, params, probe=probe, extra=extra),
                   cwd=str(self.cwd))
        return done, time.monotonic() - began

    def leaks(self) -> list[str]:
        """Files a hostile value made outside the scratch folder, and the canary if touched."""
        found = [str(self.canary)] if self.canary.exists() else []
        for folder in WATCHED:
            try:
                found += [f"{folder}/{n}" for n in os.listdir(folder) if MARKER in n]
            except OSError:
                continue
        return found


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    box = Scratch(tmp_path_factory.mktemp("hostile"))
    install(box.ocf_root)
    (box.root / "dovecot.conf").write_text("")  # doveconf reads it: probes go past the file
    yield box
    assert box.leaks() == []


def hostile_values(canary) -> st.SearchStrategy[str]:
    """What a careless or malicious CIB, or a fuzzer, could hand an agent."""
    shell = [f"$(touch {canary})", f"`touch {canary}`", f"; touch {canary}", f"| touch {canary}",
             f"&& touch {canary}", f"x\ntouch {canary}", f"$(touch${{IFS}}{canary})",
             f"'; touch {canary}; '", f'"; touch {canary}; "', f"-o/bin/sh -c 'touch {canary}'"]
    paths = ["../../etc/passwd", f"../../{MARKER}", f"/tmp/{MARKER}/../../etc/passwd",
             "/etc/passwd", "/", "//", "/./etc//passwd/", "/dev/null", "/proc/self/environ",
             f"/tmp/{MARKER}", MARKER, f"-{MARKER}", "--help", "/" + "a" * 300,
             "/a" * 2100, "~root", "*", f"/tmp/{MARKER}*"]
    types = ["", " ", "true", "yes", "0", "-1", "1.5", "0x10", "1e3", "+", "-", "NaN", "None",
             "[]", "{}", "127.0.0.1", "::1", "25", "65536", "9" * 30, "-" + "9" * 19]
    unicode = ["١٢٣", "²", "𝟗", "١٢٧.٠.٠.١", "ｅｔｃ", "\u202eabc", "\ufeff25", "äöü", "r\u0430"]
    control = ["\n", "a\rb", "\x1b[31mred", "\t", "x\x7f", "a\x01b"]
    huge = ["x" * 10_000, "/" + "x" * 10_000, "9" * 10_000, "a." * 5_000]
    return st.one_of(
        st.sampled_from(shell + paths + types + unicode + control + huge),
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=30),  # lone surrogates cannot be put in an environment at all
        st.binary(min_size=1, max_size=16).filter(lambda b: b"\0" not in b).map(
            lambda b: b.decode("utf-8", "surrogateescape")),  # what os.environ holds
        st.integers(-10**40, 10**40).map(str),
    )


def assert_sane(done, elapsed, what):
    assert 0 <= done.returncode <= 7, f"{what}: exit {done.returncode}\n{done.stderr[-2000:]}"
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, \
        f"{what}: {done.stderr[-3000:]}"
    assert elapsed < TIME_LIMIT_S, f"{what}: took {elapsed:.1f}s"


@pytest.mark.parametrize("agent", NAMES)
def test_validate_all_and_probe_survive_hostile_values(agent, scratch):
    names = [p.name for p in load_agent(agent).params] + ["bogus"]
    overrides = st.dictionaries(st.sampled_from(names), hostile_values(scratch.canary),
                                min_size=1, max_size=3)

    @settings(max_examples=EXAMPLES, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(overrides)
    def check(values):
        params = {**BASE[agent](scratch.root), **values}
        for action, probe in (("validate-all", False), ("monitor", True)):
            done, elapsed = scratch.run(agent, action, params, probe=probe)
            assert_sane(done, elapsed, f"{agent} {action} {values!r}"[:300])
            if probe:
                assert done.returncode in (OCF_SUCCESS, OCF_ERR_CONFIGURED, OCF_NOT_RUNNING), \
                    f"{agent} probe {values!r}"[:300] + "\n" + done.stderr[-2000:]
        assert scratch.leaks() == []
    check()


# -- the cases that used to fail, each once ------------------------------------------

def exit_reason(done) -> str:
    (reason,) = [line.split(":", 1)[1] for line in done.stderr.splitlines()
                 if line.startswith("ocf-exit-reason:")]
    return reason


def probe(scratch, agent, params, **kwargs):
    done, elapsed = scratch.run(agent, "monitor", params, probe=True, **kwargs)
    assert_sane(done, elapsed, f"{agent} probe")
    return done


def test_probe_refuses_a_relative_dovecot_config_file(scratch):
    done = probe(scratch, "dovecot", {"config_file": "../../etc/passwd"})
    assert done.returncode == OCF_ERR_CONFIGURED
    assert exit_reason(done).startswith("parameter config_file: '../../etc/passwd' is not an "
                                        "absolute path")


def test_probe_refuses_a_drbd_resource_name_longer_than_drbd_takes(scratch):
    done = probe(scratch, "drbd", {"drbd_resource": "r" * 10_000})
    assert done.returncode == OCF_ERR_CONFIGURED
    assert "is longer than DRBD's 127 characters" in exit_reason(done)
    assert probe(scratch, "drbd", {"drbd_resource": "r" * 127}).returncode == OCF_NOT_RUNNING


def test_probe_refuses_bytes_that_are_not_utf_8_without_a_codec_message(scratch):
    done = probe(scratch, "vip", {"ip": "10.0.0.\udcff"})
    assert done.returncode == OCF_ERR_CONFIGURED
    assert exit_reason(done) == r"parameter ip: '10.0.0.\xff' is not valid UTF-8"


def test_probe_without_the_software_says_not_running(scratch):
    absent = {"PATH": f"{scratch.root}/no-bin"}
    assert probe(scratch, "drbd", {"drbd_resource": "r0"}, extra=absent).returncode == \
        OCF_NOT_RUNNING
    config = scratch.root / "dovecot-absent.conf"
    config.write_text("")
    done = probe(scratch, "dovecot", {"config_file": str(config),
                                      "doveadm": f"{scratch.root}/no-bin/doveadm"})
    assert done.returncode == OCF_NOT_RUNNING


def test_run_folder_is_ha_rsctmp(scratch):
    """Caches go where HA_RSCTMP says, so the runs above really were confined."""
    config = scratch.root / "dovecot.conf"
    config.write_text("")  # doveconf answers the compiled-in base_dir
    assert probe(scratch, "dovecot", {"config_file": str(config)}).returncode == OCF_NOT_RUNNING
    name = f"doveconf-base_dir-{zlib.crc32(str(config).encode()):08x}"
    assert (scratch.rsctmp / "pacemail" / name).is_file()
    assert not os.path.exists(f"/run/pacemail/{name}")


@pytest.mark.parametrize("value", ["$(touch {c})", "`touch {c}`", "; touch {c}", "x\udcff"])
def test_free_text_reaches_files_verbatim_and_no_shell(scratch, value):
    value = value.format(c=scratch.canary)
    state = scratch.root / "free.state"
    done, elapsed = scratch.run("dummy", "start", {"state": str(state), "fake": value})
    assert_sane(done, elapsed, "dummy start")
    if value.isprintable():
        assert done.returncode == OCF_SUCCESS
        assert state.read_text() == value + "\n"
    else:
        assert done.returncode == OCF_ERR_CONFIGURED  # a CIB cannot hold it
        assert exit_reason(done) == r"parameter fake: 'x\xff' is not valid UTF-8"
    assert not scratch.canary.exists()
    scratch.run("dummy", "stop", {"state": str(state)})
