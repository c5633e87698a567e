"""The steady drill on the session lab: mail-3node.yaml applied, minutes of mail, no fault.

The proof that the lab's corosync token (lab/corosync_conf.py) does not
declare a merely busy node dead: with the drill's SMTP and IMAP workload on
the stack and nothing injected, no node is fenced, corosync's membership never
changes, the stack neither moves nor breaks and every accepted message is
delivered. The stack is test_main_stack's (the template applied as the main
job applies it, removed again afterwards). PACEMAIL_STEADY_MINUTES sets the
window (default 1; `pacemail drill steady` runs 10).
"""

from __future__ import annotations

import os

from pacemail.drills import report, steady

# The fixture: the template applied as the main job applies it, removed again afterwards.
from test_main_stack import stack  # noqa: F401

MINUTES = float(os.environ.get("PACEMAIL_STEADY_MINUTES", "1"))


def test_minutes_of_mail_with_no_fault_fence_nothing_and_move_nothing(
        lab, stack, tmp_path):  # noqa: F811
    t, _ = stack
    result = steady.run(t, MINUTES, print)
    paths = report.write_steady(report.steady(result, {"target": t.label}), tmp_path)
    print(paths["markdown"].read_text())
    assert result["violations"] == []
    assert result["fences"] == 0 and result["membership_changes"] == 0
    assert result["lost"] == 0 and result["delivered"] > 0
    assert result["window_s"] >= MINUTES * 60
    assert result["totem"]["error"] is None and result["totem"]["token_ms"] > 0
    assert result["passed"]
