"""ocf:pacemail:proxysql: the writer verdict (pure), then the agent against the ProxySQL
test double (lab/proxysql_double.py) and real MariaDB backends, in the lab and under Pacemaker.

The backends run in the lab's client namespace (198.18.0.200, ports 3306/3307),
reachable from every node; the double's config, datadir and password files
live in the lab's state directory, seen alike by all nodes (like a replicated
volume), and the double itself is the lab's bin/proxysql.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pacemail.agents.ocf import (
    OCF_DEGRADED, OCF_ERR_CONFIGURED, OCF_ERR_GENERIC, OCF_ERR_INSTALLED, OCF_ERR_PERM,
    OCF_NOT_RUNNING, OCF_SUCCESS,
)
from pacemail.agents.proxysql_status import STATUSES, writer_verdict
from pacemail.lab import cluster
from pacemail.lab.nodes import node_run, node_runner
from pacemail.pacemaker import status as crm_status

from pacemail.lab import mariadb as mariadb_backend
from pacemail.lab import proxysql as lab_proxysql
from ocf_node import exit_reasons, run_action

DOUBLE = lab_proxysql.DOUBLE
BACKEND_ADDRESS = "198.18.0.200"
WRITER_PORT, READER_PORT = 3306, 3307
ADMIN_PASSWORD, PROBE_PASSWORD = "adm-S3cret", "probe-S3cret"
RECURRING = 10000


# -- the verdict (pure) -----------------------------------------------------------------

rows = st.lists(st.tuples(st.sampled_from([10, 11, "10", "11"]), st.sampled_from(["db1", "db2"]),
                          st.sampled_from([3306, "3307"]), st.sampled_from(STATUSES)), max_size=8)


@given(rows)
def test_writer_hostgroup_is_fine_exactly_when_one_of_its_servers_is_online(found):
    code, reason = writer_verdict(found, 10)
    online = any(str(hg) == "10" and status == "ONLINE" for hg, _, _, status in found)
    assert (code == OCF_SUCCESS) == online
    assert code in (OCF_SUCCESS, OCF_DEGRADED)
    if code == OCF_DEGRADED:
        assert reason.startswith("writer hostgroup 10 has no ")
        for hg, host, port, status in found:
            if str(hg) == "10":
                assert f"{host}:{port} {status}" in reason
        assert "\n" not in reason


def test_writer_verdict_names_the_statuses_seen():
    code, reason = writer_verdict([("10", "db1", "3306", "SHUNNED"), ("10", "db2", "3306",
                                   "OFFLINE_HARD"), ("11", "db3", "3306", "ONLINE")], 10)
    assert code == OCF_DEGRADED
    assert reason == "writer hostgroup 10 has no ONLINE server: db1:3306 SHUNNED, db2:3306 OFFLINE_HARD"
    assert writer_verdict([], 10) == (OCF_DEGRADED, "writer hostgroup 10 has no server in "
                                                    "runtime_mysql_servers")


def test_the_double_reads_proxysql_cnf_syntax():
    sys.path.insert(0, str(DOUBLE.parent))
    try:
        import proxysql_double
    finally:
        sys.path.pop(0)
    config = proxysql_double.parse_config(CONFIG.format(admin_password="a:b;c"))
    assert config["admin_variables"]["admin_credentials"] == "radmin:a:b;c"
    assert config["mysql_servers"][1] == {"address": BACKEND_ADDRESS, "port": READER_PORT,
                                          "hostgroup": 11}
    assert config["mysql_users"][0]["default_hostgroup"] == 10
    assert proxysql_double.host_port("127.0.0.1:6032;/tmp/proxysql_admin.sock", 1) == \
        ("127.0.0.1", 6032)


# -- the lab: backends, the double, the agent ---------------------------------------------------

CONFIG = """# a proxysql.cnf for the test double
datadir="/var/lib/proxysql"
admin_variables =
{{
    admin_credentials="radmin:{admin_password}"
    mysql_ifaces="127.0.0.1:6032"
}}
mysql_variables =
{{
    interfaces="127.0.0.1:6033"
}}
mysql_servers =
(
    {{ address="198.18.0.200", port=3306, hostgroup=10, weight=1000 }},
    {{ address="198.18.0.200", port=3307, hostgroup=11 }}
)
mysql_users = ( {{ username="pmprobe", password="x", default_hostgroup=10 }} )
"""


def mimic_missing() -> str | None:
    try:
        import mysql_mimic  # noqa: F401
    except ImportError:
        return "the ProxySQL double needs mysql-mimic (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="module")
def backends(lab):
    reason = mariadb_backend.unavailable() or mimic_missing()
    if reason:
        pytest.skip(reason)
    top = lab.dir / "proxysql-backends"
    servers = [mariadb_backend.MariaDB(str(top / str(port)), BACKEND_ADDRESS, port,
                                       lab.client_netns) for port in (WRITER_PORT, READER_PORT)]
    try:
        for server in servers:
            server.install()
            server.start()
            server.add_user("pmprobe", PROBE_PASSWORD)
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def setup(lab, backends):
    """Config, datadir and password files of one instance; the double `lab up` installs."""
    top = lab.dir / "proxysql"
    top.mkdir(exist_ok=True)
    binary = lab_proxysql.binary(lab)
    (top / "proxysql.cnf").write_text(CONFIG.format(admin_password=ADMIN_PASSWORD))
    for name, secret in (("admin.pw", ADMIN_PASSWORD), ("probe.pw", PROBE_PASSWORD)):
        path = top / name
        path.write_text(secret + "\n")
        path.chmod(0o600)
    return {"binary": str(binary), "config": str(top / "proxysql.cnf"),
            "datadir": str(top / "data"), "admin_user": "radmin",
            "admin_password_file": str(top / "admin.pw"), "monitor_user": "pmprobe",
            "monitor_password_file": str(top / "probe.pw"), "probe_timeout": "2"}


@pytest.fixture
def params(lab, setup):
    """Fresh datadir each test (no proxysql.db: the config file counts); nothing left running."""
    datadir = Path(setup["datadir"])
    if datadir.exists():
        for child in datadir.iterdir():
            child.unlink()
    datadir.mkdir(exist_ok=True)
    yield dict(setup)
    for node in lab.nodes:
        run_action(lab, node.name, "proxysql", "stop", setup)


def proxysql(lab, node, action, p, interval_ms=None, check_level=None, **kwargs):
    return run_action(lab, node, "proxysql", action, p, interval_ms=interval_ms,
                      check_level=check_level, **kwargs)


def admin(lab, node, statement: str) -> str:
    """``statement`` on the double's admin interface, with Debian's mariadb client inside ``node``."""
    return node_run(lab.name, node, ["mariadb", "--no-defaults", "-h127.0.0.1", "-P6032",
                                     "-uradmin", f"-p{ADMIN_PASSWORD}", "-N", "-B",
                                     "--connect-timeout=3", "-e", statement], timeout=15).stdout


def instance_pids(lab, node) -> list[int]:
    out = node_run(lab.name, node, ["pgrep", "-f", "proxysql/proxysql.cnf"], timeout=5,
                   check=False).stdout
    return [int(p) for p in out.split()]


def test_ocf_sequence_and_monitor_depths(lab, params):
    node = "node1"
    assert proxysql(lab, node, "validate-all", params).returncode == OCF_SUCCESS
    assert proxysql(lab, node, "monitor", params).returncode == OCF_NOT_RUNNING
    started = proxysql(lab, node, "start", params)
    assert started.returncode == OCF_SUCCESS, started.stderr
    assert proxysql(lab, node, "start", params).returncode == OCF_SUCCESS
    for level in (0, 10, 20):
        done = proxysql(lab, node, "monitor", params, RECURRING, check_level=level)
        assert done.returncode == OCF_SUCCESS, (level, done.stderr)
    assert admin(lab, node, "SELECT hostname, port, status FROM runtime_mysql_servers "
                 "WHERE hostgroup_id = 10").split() == [BACKEND_ADDRESS, "3306", "ONLINE"]
    assert proxysql(lab, node, "stop", params).returncode == OCF_SUCCESS
    assert proxysql(lab, node, "stop", params).returncode == OCF_SUCCESS
    assert proxysql(lab, node, "monitor", params, RECURRING).returncode == OCF_NOT_RUNNING
    assert instance_pids(lab, node) == []


@pytest.mark.parametrize("status", ["SHUNNED", "OFFLINE_HARD", "OFFLINE_SOFT"])
def test_depth_10_is_degraded_without_an_online_writer(lab, params, status):
    node = "node2"
    assert proxysql(lab, node, "start", params).returncode == OCF_SUCCESS
    admin(lab, node, f"UPDATE mysql_servers SET status = '{status}' WHERE hostgroup_id = 10; "
                     "LOAD MYSQL SERVERS TO RUNTIME")
    done = proxysql(lab, node, "monitor", params, RECURRING, check_level=10)
    assert done.returncode == OCF_DEGRADED, done.stderr
    assert exit_reasons(done.stderr) == [f"writer hostgroup 10 has no ONLINE server: "
                                         f"{BACKEND_ADDRESS}:3306 {status}"]
    assert proxysql(lab, node, "monitor", params, RECURRING).returncode == OCF_SUCCESS  # depth 0
    admin(lab, node, "UPDATE mysql_servers SET status = 'ONLINE'; LOAD MYSQL SERVERS TO RUNTIME")
    assert proxysql(lab, node, "monitor", params, RECURRING, check_level=10).returncode == 0


def test_depth_20_fails_when_the_writer_is_down(lab, backends, params):
    node, writer = "node1", backends[0]
    assert proxysql(lab, node, "start", params).returncode == OCF_SUCCESS
    writer.stop()
    try:
        done = proxysql(lab, node, "monitor", params, RECURRING, check_level=20)
        assert done.returncode == OCF_ERR_GENERIC, done.stderr
        assert exit_reasons(done.stderr)[0].startswith("proxy interface: ")
        # The double, like ProxySQL, shunned the backend that refused the connection.
        done = proxysql(lab, node, "monitor", params, RECURRING, check_level=10)
        assert done.returncode == OCF_DEGRADED
        assert exit_reasons(done.stderr) == [f"writer hostgroup 10 has no ONLINE server: "
                                             f"{BACKEND_ADDRESS}:3306 SHUNNED"]
    finally:
        writer.start()


def test_sigstopped_proxysql_fails_depth_0_within_the_probe_timeout(lab, params):
    node = "node1"
    assert proxysql(lab, node, "start", params).returncode == OCF_SUCCESS
    pids = instance_pids(lab, node)
    node_run(lab.name, node, ["kill", "-STOP", *map(str, pids)], timeout=5)
    try:
        began = time.monotonic()
        done = proxysql(lab, node, "monitor", params, RECURRING)
        took = time.monotonic() - began
        assert done.returncode == OCF_ERR_GENERIC, done.stderr
        assert "admin interface" in exit_reasons(done.stderr)[0]
        assert took < 10, took  # probe_timeout 2 s per phase, far below the 20 s op timeout
        stopped = proxysql(lab, node, "stop", params)  # SHUTDOWN times out, SIGKILL ends it
        assert stopped.returncode == OCF_SUCCESS, stopped.stderr
        assert instance_pids(lab, node) == []
    finally:
        node_run(lab.name, node, ["kill", "-CONT", *map(str, pids)], timeout=5, check=False)


def test_orphaned_worker_fails_the_monitor_and_start_replaces_it(lab, params):
    node = "node3"
    assert proxysql(lab, node, "start", params).returncode == OCF_SUCCESS
    angel = int(Path(params["datadir"], "proxysql.pid").read_text())
    node_run(lab.name, node, ["kill", "-9", str(angel)], timeout=5)
    cluster.wait_for(lambda: angel not in instance_pids(lab, node), 5, "the angel gone")
    assert instance_pids(lab, node), "the worker outlives its angel, as ProxySQL's does"
    done = proxysql(lab, node, "monitor", params, RECURRING)
    assert done.returncode == OCF_ERR_GENERIC
    assert "run without the process named in proxysql.pid" in exit_reasons(done.stderr)[0]
    assert proxysql(lab, node, "start", params).returncode == OCF_SUCCESS
    assert proxysql(lab, node, "monitor", params, RECURRING, check_level=10).returncode == 0
    assert len(instance_pids(lab, node)) == 2  # a new angel and its worker, nothing left over


def test_password_files_must_exist_and_be_private(lab, params):
    node = "node1"
    path = Path(params["admin_password_file"])
    try:
        path.chmod(0o604)
        for action in ("validate-all", "start"):
            done = proxysql(lab, node, action, params)
            assert done.returncode == OCF_ERR_PERM
            assert "is not private (mode 604" in exit_reasons(done.stderr)[0]
        assert proxysql(lab, node, "monitor", params).returncode == OCF_NOT_RUNNING  # a probe
        missing = dict(params, admin_password_file=str(path) + ".missing")
        done = proxysql(lab, node, "start", missing)
        assert done.returncode == OCF_ERR_INSTALLED
        assert "does not exist on this node" in exit_reasons(done.stderr)[0]
        assert proxysql(lab, node, "monitor", missing).returncode == OCF_NOT_RUNNING
    finally:
        path.chmod(0o600)
    assert instance_pids(lab, node) == []


@pytest.mark.parametrize("name, value", [
    ("admin_user", "radmin\nroot"),
    ("admin_user", "r admin"),
    ("admin_address", "127.0.0.1;reboot"),
    ("admin_port", "6032 6033"),
    ("binary", "proxysql"),
    ("config", "/etc/../etc/proxysql.cnf"),
    ("datadir", "/var/lib/proxysql\n/tmp"),
    ("writer_hostgroup", "-1"),
    ("monitor_user", "$(reboot)\n"),
])
def test_bad_parameters_are_configuration_errors_naming_the_parameter(lab, params, name, value):
    for action in ("validate-all", "start"):
        done = proxysql(lab, "node1", action, dict(params, **{name: value}))
        assert done.returncode == OCF_ERR_CONFIGURED, done.stderr
        reasons = exit_reasons(done.stderr)
        assert len(reasons) == 1 and f"parameter {name}" in reasons[0], done.stderr
    assert instance_pids(lab, "node1") == []


def test_shell_metacharacters_reach_proxysql_as_plain_words(lab, params):
    odd = str(Path(params["datadir"]).parent / "data;$(reboot)|`id`&x>pwned")
    os.makedirs(odd, exist_ok=True)
    p = dict(params, datadir=odd)
    try:
        assert proxysql(lab, "node1", "start", p).returncode == OCF_SUCCESS
        assert Path(odd, "proxysql.pid").exists()
        assert not Path(params["datadir"]).parent.joinpath("pwned").exists()
        assert not Path("pwned").exists()
    finally:
        assert proxysql(lab, "node1", "stop", p).returncode == OCF_SUCCESS
        for child in Path(odd).iterdir():
            child.unlink()
        os.rmdir(odd)


def test_under_pacemaker_a_killed_instance_is_recovered(lab, params):
    rsc = "pmproxysql"
    pcs = lambda *args: node_run(lab.name, "node1", ["pcs", *args], timeout=60)  # noqa: E731
    pcs("resource", "create", rsc, "ocf:pacemail:proxysql",
        *[f"{k}={v}" for k, v in params.items()], "op", "monitor", "interval=3s",
        "OCF_CHECK_LEVEL=10", "--wait=60")
    try:
        where = cluster.wait_for(lambda: cluster.crm_view(lab.name, "node1").resources.get(rsc),
                                 60, f"{rsc} started")
        node = where[0]
        first = cluster.wait_for(lambda: instance_pids(lab, node), 30, "proxysql running")
        node_run(lab.name, node, ["kill", "-9", *map(str, first)], timeout=5)

        def recovered():
            now = instance_pids(lab, node)
            return now and not set(now) & set(first) and \
                cluster.crm_view(lab.name, "node1").resources.get(rsc)
        cluster.wait_for(recovered, 60, f"{rsc} recovered after kill -9")
        # new pids appear as soon as the restart begins; the status can still say Started
        # from before the failure: let the transition (the start op) finish first
        cluster.settle(lab.name, "node1", 60)
        failures = crm_status.read(run=node_runner(lab.name, "node1"), timeout=10).failures
        assert any((f.resource, f.operation, f.interval, f.result) == (rsc, "monitor", "3000",
                                                                       "not running")
                   for f in failures), failures
        done = proxysql(lab, node, "monitor", params, RECURRING, check_level=20)
        assert done.returncode == OCF_SUCCESS, done.stderr
    finally:
        pcs("resource", "delete", rsc, "--force")
        cluster.wait_for(lambda: not any(instance_pids(lab, n.name) for n in lab.nodes), 60,
                         "proxysql stopped everywhere")
        node_run(lab.name, "node1", ["crm_resource", "--cleanup", "--resource", rsc],
                 timeout=30, check=False)
