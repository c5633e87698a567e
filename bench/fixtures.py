"""Real things for the bench's monitors to look at, created before a pair and removed after.

Each fixture is a context manager taking the places dict and yielding the
names it adds to it. Everything stays local: a veth pair in the root
network namespace whose two ends only reach each other (this kernel has no
dummy interfaces) and loop devices on files in the bench's scratch folder.
"""

from __future__ import annotations

import contextlib
import time

from pacemail.proc import run

TIMEOUT = 30
BENCH_NIC, BENCH_PEER = "pmbench0", "pmbench1"
BENCH_NET = "198.19.250"  # benchmarking range (RFC 2544), on the dummy interface only


@contextlib.contextmanager
def local_nic(places):
    """An interface with carrier and a connected /24 for both sides' addresses."""
    run(["ip", "link", "add", BENCH_NIC, "type", "veth", "peer", "name", BENCH_PEER],
        timeout=TIMEOUT)
    try:
        run(["ip", "addr", "add", f"{BENCH_NET}.254/24", "dev", BENCH_NIC], timeout=TIMEOUT)
        for nic in (BENCH_PEER, BENCH_NIC):
            run(["ip", "link", "set", nic, "up"], timeout=TIMEOUT)
        yield {"nic": BENCH_NIC, "net": BENCH_NET}
    finally:
        run(["ip", "link", "del", BENCH_NIC], timeout=TIMEOUT, check=False)


@contextlib.contextmanager
def loop_filesystems(places):
    """Two small ext4 loop devices, one per side, and their mount points."""
    loops = []
    try:
        for side in ("ours", "theirs"):
            image = f"{places['tmp']}/{side}.img"
            run(["truncate", "-s", "32M", image], timeout=TIMEOUT)
            run(["mkfs.ext4", "-q", "-F", image], timeout=TIMEOUT)
            loops.append(run(["losetup", "--find", "--show", image], timeout=TIMEOUT).stdout.strip())
        yield {"dev_ours": loops[0], "dev_theirs": loops[1]}
    finally:
        for loop in loops:
            run(["losetup", "--detach", loop], timeout=TIMEOUT, check=False)


PF_MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
error unix - - n - - error
proxymap unix - - n - - proxymap
anvil unix - - n - 1 anvil
postlog unix-dgram n - n - 1 postlogd
"""
PF_MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {dir}/spool
data_directory = {dir}/data
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = bench.invalid
mydestination =
maillog_file = {dir}/maillog
alternate_config_directories = {dir}/conf
"""
DOVECOT_CONF = """\
protocols = imap lmtp
listen = 127.0.0.1
base_dir = {dir}/run
ssl = no
log_path = {dir}/log
passdb {{
  driver = static
  args = password=unused
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
}}
"""


@contextlib.contextmanager
def mail_daemons(places):
    """A postfix and a dovecot instance per side on loopback ports, config and state in /var/lib.

    The heartbeat postfix agent asks the default main.cf (postconf honours
    MAIL_CONFIG) whether its config_dir is an alternate one, so each postfix
    side lists its own directory there and their side runs with MAIL_CONFIG.
    """
    import os
    import shutil
    import tempfile
    # not in /tmp: postfix check refuses a queue below a world-writable folder
    tmp = tempfile.mkdtemp(prefix="pacemail-bench-mail-", dir="/var/lib")
    os.chmod(tmp, 0o755)  # postfix and dovecot children must reach their folders
    started = []
    try:
        for side, port in (("ours", 10), ("theirs", 11)):
            pf = f"{tmp}/pf-{side}"
            for sub in ("conf", "spool", "data"):
                os.makedirs(f"{pf}/{sub}")
            with open(f"{pf}/conf/main.cf", "w") as f:
                f.write(PF_MAIN_CF.format(dir=pf))
            with open(f"{pf}/conf/master.cf", "w") as f:
                f.write(PF_MASTER_CF.format(port=100 * 100 + 25 + port * 1000))
            run(["chown", "postfix", f"{pf}/data"], timeout=TIMEOUT)
            run(["postfix", "-c", f"{pf}/conf", "start"], timeout=TIMEOUT)
            started.append(["postfix", "-c", f"{pf}/conf", "stop"])
            dc = f"{tmp}/dc-{side}"
            os.makedirs(dc)
            with open(f"{dc}/dovecot.conf", "w") as f:
                f.write(DOVECOT_CONF.format(dir=dc, port=100 * 100 + 143 + port * 1000))
            run(["dovecot", "-c", f"{dc}/dovecot.conf"], timeout=TIMEOUT, capture=False)
            started.append(["doveadm", "-c", f"{dc}/dovecot.conf", "stop"])
        yield {"pf_ours": f"{tmp}/pf-ours/conf", "pf_theirs": f"{tmp}/pf-theirs/conf",
               "dc_ours": f"{tmp}/dc-ours", "dc_theirs": f"{tmp}/dc-theirs"}
    finally:
        for argv in started:
            run(argv, timeout=TIMEOUT, check=False)
        time.sleep(1)  # the last children exit after their master
        shutil.rmtree(tmp)
