"""ProxySQL in the lab: the test double as the nodes' proxysql, its files, the user database.

ProxySQL is not packaged for Debian and cannot be installed here, so the lab
runs :mod:`pacemail.lab.proxysql_double` (a test double, named so everywhere)
from the lab's own bin directory. Each node gets its own configuration and
root-only admin password file in /etc/pacemail and its own /var/lib/proxysql
(nodeinit binds both per node). The user database the proxy fronts is one
real MariaDB in the client namespace (a production Galera cluster stands
outside the mail cluster too), started by :func:`start_database` when a
description with ProxySQL is applied.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

from pacemail.lab.mariadb import MariaDB
from pacemail.lab.topology import CLIENT_ADDRESS, Lab

CONFIG = "/etc/pacemail/proxysql.cnf"            # the template's /etc/proxysql.cnf, per node
ADMIN_PASSWORD_FILE = "/etc/pacemail/proxysql-admin"
DOUBLE = Path(__file__).resolve().parent / "proxysql_double.py"
DATABASE_PORT = 3306
WRITER_HOSTGROUP = 10
USER = "mail"

CONFIG_TEXT = """\
# pacemail lab: ProxySQL test double, in front of the lab's MariaDB
datadir="/var/lib/proxysql"
admin_variables =
{{
    admin_credentials="admin:{password}"
    mysql_ifaces="127.0.0.1:{admin_port}"
}}
mysql_variables =
{{
    interfaces="0.0.0.0:{proxy_port}"
}}
mysql_servers =
(
    {{ address="{database}", port={port}, hostgroup={hostgroup}, weight=1000 }}
)
mysql_users = ( {{ username="{user}", password="{user_password}", default_hostgroup={hostgroup} }} )
"""


def binary(lab: Lab) -> Path:
    return lab.dir / "bin" / "proxysql"


def configure_nodes(lab: Lab, admin_port: int = 6032, proxy_port: int = 6033) -> None:
    """The double as the lab's ``proxysql``; each node's config and password file (0600)."""
    path = binary(lab)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable}\n# ProxySQL test double (pacemail lab)\nimport runpy\n"
                    f"runpy.run_path({str(DOUBLE)!r}, run_name='__main__')\n")
    path.chmod(0o755)
    user_password = database_password(lab)
    for node in lab.nodes:
        etc = node.root / CONFIG.lstrip("/")
        etc.parent.mkdir(parents=True, exist_ok=True)
        etc.parent.chmod(0o700)
        admin = node.root / ADMIN_PASSWORD_FILE.lstrip("/")
        password = _password(admin)
        etc.write_text(CONFIG_TEXT.format(
            password=password, admin_port=admin_port, proxy_port=proxy_port,
            database=CLIENT_ADDRESS, port=DATABASE_PORT, hostgroup=WRITER_HOSTGROUP, user=USER,
            user_password=user_password))
        etc.chmod(0o600)
        (node.root / "var/lib/proxysql").mkdir(parents=True, exist_ok=True)


def start_database(lab: Lab) -> MariaDB:
    """The lab's user database in the client namespace, with the proxy's user; idempotent."""
    db = MariaDB(str(lab.dir / "database"), CLIENT_ADDRESS, DATABASE_PORT, lab.client_netns)
    if db.sql("SELECT 1", check=False).returncode != 0:
        db.install()
        db.start()
        db.add_user(USER, database_password(lab))
    return db


def database_password(lab: Lab) -> str:
    """The password of :data:`USER`, the account mail applications use through the proxy."""
    return _password(lab.dir / "database-user")


def _password(path: Path) -> str:
    """The secret kept in ``path`` (root-only), made on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(18) + "\n")
    return path.read_text().strip()
