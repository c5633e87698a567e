"""A CIB's operations, as a description holds them: in ``extra:`` and in ``operations:``.

Part of ``pacemail import`` (``importer.py``). A description's operation has a
name, an interval, a timeout and a role; anything else on a CIB's operation
(``on-fail``, ``start-delay``, ``enabled``, an ``OCF_CHECK_LEVEL``) is lost and
said so. The mail stack and the fence devices get their operations from
``operations:``, one set per part (``stack.DEFAULT_OPS``): :class:`Timings`
collects what the CIB's resources say there.
"""

from __future__ import annotations

from pacemail.controller import stack, values
from pacemail.controller.importcib import Reading, role
from pacemail.controller.model import Op
from pacemail.controller.values import Invalid


def ops(r: Reading, primitive) -> list[Op]:
    """A primitive's operations: name, interval, timeout and role; anything else is lost."""
    out = []
    for operations in primitive.findall("operations"):
        for op in operations:
            if not isinstance(op.tag, str):
                continue
            odd = sorted(set(op.attrib) - {"id", "name", "interval", "timeout", "role"})
            odd += [c.tag for c in op if isinstance(c.tag, str)]
            if op.tag != "op" or set(operations.attrib) - {"id"}:
                r.loses(primitive, f"{op.tag} {op.get('id')}", "a reference to operations elsewhere")
                continue
            if odd:
                r.loses(primitive, f"{', '.join(odd)} of operation {op.get('id')}",
                        "a description's operations have a name, interval, timeout and role only")
            try:
                name = op.get("name", "")
                if not values.WORD.fullmatch(name):
                    raise Invalid(f"operation name {values.shown(name)}")
                interval = values.duration(op.get("interval", "0"))
                timeout = op.get("timeout")
                out.append(Op(name, interval, timeout and values.duration(timeout),
                              role(r, primitive, "role", op.get("role"))))
            except Invalid as exc:
                r.loses(primitive, f"operation {op.get('id')}", f"{exc} is no value a description takes")
    return out


class Timings:
    """Operation timings by part, for ``operations:``: the first resource of a part sets them.

    ``same``: the resource runs the agent the description gives the part (pacemail's own, or a
    fence agent), so its timings are kept exactly; another agent's are kept where they say
    something (another monitor interval, a longer timeout)."""

    def __init__(self, r: Reading, op_timeout: str | None):
        self.r, self.op_timeout = r, op_timeout
        self.operations: dict[str, dict] = {}
        self.first: dict[str, str] = {}     # part -> the resource its timings come from

    def add(self, e, part: str, same: bool) -> None:
        mine = {}
        for op in ops(self.r, e):
            op = Op(op.name, op.interval, op.timeout, None if op.role == "Started" else op.role)
            fields = self._op(e, part, op, same)
            if fields:
                mine[stack.op_key(op)] = fields
        first = self.first.setdefault(part, e.get("id"))
        if first == e.get("id"):
            if mine:
                self.operations[part] = mine
        elif mine != self.operations.get(part, {}):
            self.r.loses(e, "its operation timings", f"a description has one set per part "
                                                     f"(operations.{part}), here {first}'s")

    def _op(self, e, part: str, op: Op, same: bool) -> dict:
        ms = values.duration_ms
        defaults = {stack.op_key(d): d for d in stack.DEFAULT_OPS[part]}
        default = defaults.get(stack.op_key(op))
        if default is None or (op.name != "monitor" and ms(op.interval)):
            why = f"a description gives {part} the operations {', '.join(defaults)}"
            if same:
                self.r.loses(e, f"operation {op.name} {op.interval}", why)
            else:
                self.r.note(f"{e.get('id')}: operation {stack.op_key(op)} not carried over ({why})")
            return {}
        fields = {}
        if op.name == "monitor" and (op.interval != default.interval if same else
                                     ms(op.interval) != ms(default.interval)):
            if ms(op.interval) >= 1000:
                fields["interval"] = op.interval
        timeout = op.timeout or self.op_timeout or "20s"
        if same and timeout != default.timeout or not same and ms(timeout) > ms(default.timeout):
            fields["timeout"] = timeout
        elif not same and ms(timeout) < ms(default.timeout):
            self.r.note(f"{e.get('id')}: {stack.op_key(op)} timeout {timeout} -> {default.timeout} "
                        f"(ocf:pacemail:{part}'s own; a longer one would be kept)")
        return fields
