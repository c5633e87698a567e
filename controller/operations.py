"""The ``operations:`` section: per-part overrides of the mail stack's operation timings.

Every operation pacemail puts on the stack carries an explicit timeout
(``stack.DEFAULT_OPS``), so Pacemaker's ``op_defaults`` never reach them;
slow machines (TCG virtual machines, loaded storage) need longer ones, and
some admins want other monitor intervals. A mixin of the description schema
(it uses the schema's reader ``self.r``). Only what the table knows can be
overridden: an unknown part, operation or field is an error naming the
choices.
"""

from __future__ import annotations

from dataclasses import replace

from pacemail.controller import stack
from pacemail.controller.model import Op
from pacemail.controller.values import duration, duration_ms


class OperationsSection:
    def operations(self, node, path) -> tuple[tuple[str, Op], ...] | None:
        """(part, operation) pairs: the defaults of ``stack.DEFAULT_OPS`` with the given fields."""
        r = self.r
        s = r.mapping(node, path, stack.DEFAULT_OPS)
        if s is None:
            return None
        out: list[tuple[str, Op]] = []
        for part in s.keys():
            defaults = {stack.op_key(op): op for op in stack.DEFAULT_OPS[part]}
            ops = r.mapping(s.node(part), s.path(part), defaults)
            if ops is None:
                continue
            for key in ops.keys():
                op = self._operation(ops.node(key), ops.path(key), defaults[key])
                if op is not None:
                    out.append((part, op))
            self._check_distinct(s.node(part), s.path(part), part, [o for p, o in out if p == part])
        return tuple(out)

    def _operation(self, node, path, default: Op) -> Op | None:
        r = self.r
        fields = ("interval", "timeout") if default.name == "monitor" else ("timeout",)
        s = r.mapping(node, path, fields)
        if s is None:
            return None
        interval = s.get("interval", r.string, default.interval, check=duration)
        timeout = s.get("timeout", r.string, default.timeout, check=duration)
        if interval is None or timeout is None:
            return None
        if "interval" in s and duration_ms(interval) < 1000:
            r.error(s.node("interval"), s.path("interval"),
                    f"a monitor interval of at least 1s, got {interval!r} (0 would stop monitoring)")
            return None
        if duration_ms(timeout) < 1000:
            r.error(s.node("timeout"), s.path("timeout"), f"a timeout of at least 1s, got {timeout!r}")
            return None
        return replace(default, interval=interval, timeout=timeout)

    def _check_distinct(self, node, path, part: str, given: list[Op]) -> None:
        """Pacemaker needs each operation name's intervals distinct (DRBD's two role monitors)."""
        merged = stack.with_overrides(stack.DEFAULT_OPS[part], given)
        seen: dict[tuple[str, float], Op] = {}
        for op in merged:
            key = (op.name, duration_ms(op.interval))
            if key in seen:
                self.r.error(node, path, f"{stack.op_key(seen[key])} and {stack.op_key(op)} would both "
                                         f"run every {op.interval}; Pacemaker needs distinct intervals")
            seen[key] = op
