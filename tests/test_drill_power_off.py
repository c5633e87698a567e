"""The power-off-active drill on the lab: a failover that is fenced, measured and passes."""

from pacemail.drills import power_off
from pacemail.lab.nodes import node_run

VIP = "198.18.0.151"


def test_power_off_active_fails_over_fenced_and_measured(lab):
    pcs = lambda *args: node_run(lab.name, "node1", ["pcs", *args], timeout=60)  # noqa: E731
    pcs("resource", "create", "drillvip", "ocf:heartbeat:IPaddr2", f"ip={VIP}",
        "cidr_netmask=24", "nic=eth0", "op", "monitor", "interval=2s")
    pcs("resource", "create", "drillsvc", "ocf:pacemail:dummy", "op", "monitor", "interval=2s")
    pcs("constraint", "colocation", "add", "drillsvc", "with", "drillvip", "INFINITY")
    pcs("constraint", "order", "drillvip", "then", "drillsvc")
    try:
        result = power_off.run(lab, ["drillvip", "drillsvc"], VIP)
    finally:
        for rsc in ("drillsvc", "drillvip"):
            pcs("resource", "delete", rsc, "--force")
    assert result.passed, result
    assert result.active_after != result.active_before
    assert result.fenced and result.fence_s is not None
    # The client saw an outage, and it ended no earlier than the fencing that had to precede it.
    assert result.downtime_s and result.downtime_s > 0.5
    assert result.recover_s >= result.fence_s
