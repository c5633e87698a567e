"""What ProxySQL's runtime_mysql_servers says about the writer hostgroup (pure).

ProxySQL's admin interface returns every value as text; rows here are
``(hostgroup_id, hostname, port, status)`` as read, text or numbers.
"""

from __future__ import annotations

from pacemail.agents.ocf import OCF_DEGRADED, OCF_SUCCESS

STATUSES = ("ONLINE", "SHUNNED", "OFFLINE_SOFT", "OFFLINE_HARD")


def writer_verdict(rows, hostgroup: int) -> tuple[int, str]:
    """(OCF_SUCCESS, "") when ``hostgroup`` has an ONLINE server, else (OCF_DEGRADED, why).

    Degraded, not failed: ProxySQL itself works, a restart would not bring a
    writer back, and Pacemaker leaves a degraded resource where it is.
    """
    mine = [(str(host), str(port), str(status).upper()) for hg, host, port, status in rows
            if str(hg).strip() == str(hostgroup)]
    if any(status == "ONLINE" for _, _, status in mine):
        return OCF_SUCCESS, ""
    if not mine:
        return OCF_DEGRADED, (f"writer hostgroup {hostgroup} has no server in "
                              "runtime_mysql_servers")
    seen = ", ".join(f"{host}:{port} {status}" for host, port, status in sorted(mine)[:10])
    more = f" and {len(mine) - 10} more" if len(mine) > 10 else ""
    return OCF_DEGRADED, f"writer hostgroup {hostgroup} has no ONLINE server: {seen}{more}"
