"""The OCF runtime every pacemail resource agent is built on.

An agent is one :class:`Agent` object: parameters declared once (they give the
meta-data, the typed values read from ``OCF_RESKEY_*``, the validation and the
docs) and one handler per action. ``AGENT.main()`` turns a handler's result, or
its failure, into the exit code Pacemaker expects (see :func:`exit_code`).

Pacemaker runs ``monitor`` every few seconds for every resource, so this module
imports only small standard modules; ``meta-data`` loads lxml from
:mod:`pacemail.agents.metadata` and ``Context.run`` loads :mod:`pacemail.proc`,
each only when used. No dataclasses, typing or re here: they cost milliseconds
on every monitor.
"""

from __future__ import annotations

import os
import sys
import time

OCF_SUCCESS = 0
OCF_ERR_GENERIC = 1
OCF_ERR_ARGS = 2
OCF_ERR_UNIMPLEMENTED = 3
OCF_ERR_PERM = 4
OCF_ERR_INSTALLED = 5
OCF_ERR_CONFIGURED = 6
OCF_NOT_RUNNING = 7
OCF_RUNNING_PROMOTED = 8
OCF_FAILED_PROMOTED = 9
OCF_DEGRADED = 190
OCF_DEGRADED_PROMOTED = 191

TYPES = ("string", "integer", "boolean", "select")
INT_DIGITS = 18  # Pacemaker reads integers as 64-bit; 18 digits always fit
TRUE_WORDS = frozenset({"true", "yes", "on", "y", "1"})
FALSE_WORDS = frozenset({"false", "no", "off", "n", "0"})

# Every action checks every parameter value (pure, cheap: see Param.check);
# these also run the agent's own validate-all handler first, which looks at
# the node (binaries, files) and may run commands, so a monitor never does.
FULLY_VALIDATED = frozenset({"start", "promote", "validate-all", "reload", "reload-agent"})
KNOWN_ACTIONS = ("start", "stop", "monitor", "promote", "demote", "notify",
                 "reload", "reload-agent", "validate-all", "migrate_to", "migrate_from")
# Handlers get this much less than Pacemaker's op timeout, so the agent can
# still report a clean failure before Pacemaker kills it.
TIMEOUT_RESERVE_S = 0.5
REASON_MAX = 400  # characters of an exit reason: one readable line in crm_mon
IDENT_MAX = 64    # characters of the resource name in the syslog tag
NOTIFY_LISTS = ("start", "stop", "promote", "demote", "active", "inactive",
                "promoted", "unpromoted", "all")
# Pacemaker before 2.1 only set the old names; since then it sets both.
NOTIFY_LEGACY = {"promoted": "master", "unpromoted": "slave"}


class OCFError(Exception):
    """An outcome a handler reports by raising: an OCF exit code and a one-line reason."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Param:
    """One agent parameter, declared once for meta-data, parsing, validation and docs.

    ``check`` is an optional pure function of the converted value raising
    ValueError with the reason, or returning the value in the form the
    agent uses (a normalised path; None keeps the value as it is). It runs
    for every action, probes included, so it must stay cheap: no I/O.
    ``values`` lists the accepted strings of a ``select`` parameter (a
    string parameter given ``values`` is one).
    """

    __slots__ = ("name", "type", "required", "unique_group", "default", "reloadable",
                 "shortdesc", "longdesc", "values", "check")

    def __init__(self, name, type="string", *, required=False, unique_group=None,
                 default=None, reloadable=False, shortdesc="", longdesc="",
                 values=None, check=None):
        if values and type == "string":
            type = "select"  # enumerated strings are what OCF calls select
        if type not in TYPES:
            raise ValueError(f"parameter {name}: type {type!r} is not one of {TYPES}")
        if (type == "select") != bool(values):
            raise ValueError(f"parameter {name}: values go with type 'select', and only with it")
        self.name = name
        self.type = type
        self.required = required
        self.unique_group = unique_group
        self.reloadable = reloadable
        self.shortdesc = shortdesc or name
        self.longdesc = longdesc or self.shortdesc
        self.values = tuple(values or ())
        self.check = check
        self.default = None if default is None else self.text(default)
        if self.default is not None:
            self.convert(self.default)  # a bad default is the agent author's bug: fail at import

    def text(self, value) -> str:
        """``value`` as Pacemaker would pass it (booleans as true/false)."""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def convert(self, raw: str):
        """The typed value of ``raw``; ValueError saying why it is not acceptable."""
        if self.type == "integer":
            digits = raw[1:] if raw[:1] in ("+", "-") else raw
            if not (digits.isascii() and digits.isdigit()):
                raise ValueError("is not an integer")
            if len(digits) > INT_DIGITS:
                raise ValueError(f"is out of range (more than {INT_DIGITS} digits)")
            return int(raw)
        if self.type == "boolean":
            word = raw.lower()
            if word in TRUE_WORDS:
                return True
            if word in FALSE_WORDS:
                return False
            raise ValueError("is not a boolean (true/false, yes/no, on/off, 1/0)")
        if self.type == "select" and raw not in self.values:
            raise ValueError("is not one of " + ", ".join(self.values))
        return raw


class Action:
    """How an action is advertised in the meta-data, and its handler."""

    __slots__ = ("name", "handler", "timeout", "interval", "depth", "promoted_interval")

    def __init__(self, name, handler, timeout, interval=None, depth=None,
                 promoted_interval=None):
        self.name = name
        self.handler = handler
        self.timeout = timeout
        self.interval = interval
        self.depth = depth
        self.promoted_interval = promoted_interval


class Agent:
    """A resource agent: its description, parameters and action handlers."""

    def __init__(self, name, version, shortdesc, longdesc, params=()):
        self.name = name
        self.version = version
        self.shortdesc = shortdesc
        self.longdesc = longdesc
        self.params = list(params)
        self.actions: dict[str, Action] = {}
        self.is_running = None
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"agent {name}: a parameter is declared twice")

    def action(self, name, *, timeout, interval=None, depth=None, promoted_interval=None):
        """Decorator registering ``fn(ctx) -> int`` as the handler of action ``name``.

        ``timeout`` and ``interval`` are seconds. For a promotable agent's
        monitor, ``promoted_interval`` is the (different) interval of the
        Promoted role; ``interval`` then is the Unpromoted one.
        """
        if name not in KNOWN_ACTIONS:
            raise ValueError(f"agent {self.name}: {name!r} is not an OCF action")

        def register(fn):
            self.actions[name] = Action(name, fn, timeout, interval, depth, promoted_interval)
            return fn
        return register

    def running_check(self, fn):
        """Decorator registering the quick ``fn(ctx) -> bool``: does anything run here?

        The runtime calls it only when a probe failed unexpectedly: False lets
        the probe answer "not running" (7) instead of "failed" (1). It must be
        cheap and need no parameter beyond what a probe converts.
        """
        self.is_running = fn
        return fn

    @property
    def reloadable(self) -> bool:
        return any(p.reloadable for p in self.params)

    @property
    def promotable(self) -> bool:
        return "promote" in self.actions and "demote" in self.actions

    def advertised(self) -> list[Action]:
        """All actions this agent answers, as listed in its meta-data."""
        found = dict(self.actions)
        found.setdefault("validate-all", Action("validate-all", None, 20))
        if self.reloadable:
            found.setdefault("reload-agent", Action("reload-agent", None, 20))
        found["meta-data"] = Action("meta-data", None, 5)
        return list(found.values())

    def parse_params(self, values) -> tuple[dict, list[str]]:
        """Typed and checked values (defaults applied) and the problems found, each naming
        its parameter.

        Names Pacemaker adds itself (``CRM_meta_*``, ``crm_feature_set``) are
        skipped; an empty value counts as unset; non-string values (from
        YAML) are taken as Pacemaker would receive them (``True`` as
        ``true``). A value with bytes that are not UTF-8 (os.environ holds
        them as surrogate escapes) is refused before any check sees it: the
        CIB is UTF-8 XML, so no node can ever be given such a value.
        """
        problems = []
        known = {p.name for p in self.params}
        for name in sorted(values):
            if name not in known and not (name.startswith("CRM_meta_") or name == "crm_feature_set"):
                problems.append(f"unknown parameter {show(name)}")
        typed = {}
        for p in self.params:
            raw = values.get(p.name)
            if raw is not None and not isinstance(raw, str):
                raw = p.text(raw)
            if raw is None or raw == "":
                if p.required:
                    problems.append(f"parameter {p.name} is required")
                    continue
                raw = p.default
            if raw is None:
                typed[p.name] = None
                continue
            if not _utf8(raw):
                problems.append(f"parameter {p.name}: {show(raw)} is not valid UTF-8")
                continue
            try:
                value = p.convert(raw)
                if p.check is not None:
                    checked = p.check(value)
                    value = value if checked is None else checked
            except ValueError as exc:
                problems.append(f"parameter {p.name}: {show(raw)} {exc}")
                continue
            typed[p.name] = value
        return typed, problems

    def check_params(self, values) -> list[str]:
        """Everything wrong with these parameter values; empty when they are valid."""
        return self.parse_params(values)[1]

    def usage(self) -> str:
        names = "|".join(a.name for a in self.advertised())
        return f"usage: {self.name} {{{names}}}"

    def main(self):
        """Entry point of an installed agent: ``sys.argv[1]`` is the action."""
        sys.exit(self.run(sys.argv[1:], os.environ))

    def run(self, args, environ) -> int:
        """Run the action named in ``args`` and return the exit code; never raises."""
        action = args[0] if args else None
        if len(args) != 1 or action not in {a.name for a in self.advertised()}:
            sys.stderr.write(self.usage() + "\n")
            return OCF_ERR_UNIMPLEMENTED
        log = Log(self.name, environ.get("OCF_RESOURCE_INSTANCE", ""), environ)
        probe = is_probe(action, _int(environ.get("OCF_RESKEY_CRM_meta_interval")))
        ctx = None
        try:
            if action == "meta-data":
                from pacemail.agents.metadata import render_xml
                sys.stdout.write(render_xml(self))
                return OCF_SUCCESS
            ctx = Context(self, action, environ, log)
            if ctx.problems:  # malformed values fail on every node: 6, for a probe too
                return _finish(log, action, OCF_ERR_CONFIGURED, "; ".join(ctx.problems), probe)
            code, reason = self._handle(ctx), ""
        except OCFError as exc:
            code, reason = exc.code, exc.reason
        except Exception as exc:  # noqa: BLE001 - every failure must become an OCF code
            code, reason = None, f"{action} failed unexpectedly: {crash_line(exc)}"
        running = None if ctx is None else (lambda: self._ask_running(ctx))
        return _finish(log, action, exit_code(probe, code, running), reason, probe)

    def _handle(self, ctx) -> int:
        """Run the agent's validate-all handler where ``ctx.action`` calls for it, then its handler."""
        own_validate = self.actions.get("validate-all")
        if ctx.action in FULLY_VALIDATED and ctx.action != "validate-all" and own_validate:
            code = _checked(own_validate.handler(ctx))
            if code != OCF_SUCCESS:
                return code
        handler = self.actions.get(ctx.action)
        if handler is None:  # validate-all or reload-agent left to the runtime
            return OCF_SUCCESS
        return _checked(handler.handler(ctx))

    def _ask_running(self, ctx):
        if self.is_running is None:
            return None
        try:
            return bool(self.is_running(ctx))
        except Exception as exc:  # noqa: BLE001 - an unanswerable question means "unknown"
            ctx.log.error(f"running check failed: {crash_line(exc)}")
            return None


def _finish(log, action: str, final: int, reason: str, probe: bool) -> int:
    """Log why ``action`` exits ``final`` (an exit reason for Pacemaker) and return it."""
    if reason and final != OCF_SUCCESS:
        if final == OCF_NOT_RUNNING and probe:
            log.info(f"probe: {reason}; so not running here")
        else:
            log.error(reason)
            _stderr(f"ocf-exit-reason:{cut(reason, REASON_MAX)}")
    log.debug(f"{action} exits {final}")
    return final


def crash_line(exc: BaseException) -> str:
    """An unexpected exception in one line: its type, its message and where it was raised.

    Admins read it in syslog and in Pacemaker's failed action; a traceback
    there would be many lines of noise (and echo every hostile value).
    """
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = "" if tb is None else \
        f" (at {os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno})"
    return f"{type(exc).__name__}: {cut(str(exc), REASON_MAX // 2)}{where}"


def run_dir(name: str) -> str:
    """The folder ``name`` for what an agent keeps until the next boot (caches, last scores).

    It sits in ``$HA_RSCTMP``, resource-agents' folder for such state, when
    the environment names one (tests point it at a scratch folder), else in
    /run; both are emptied at boot.
    """
    return os.path.join(os.environ.get("HA_RSCTMP") or "/run", name)


def is_probe(action: str, interval_ms: int | None) -> bool:
    """A probe is a one-off monitor (interval 0 or unset): "does it run here?"."""
    return action == "monitor" and not interval_ms


def _checked(code) -> int:
    if type(code) is not int:
        raise TypeError(f"handler returned {code!r}, not an OCF exit code")
    return code


def exit_code(probe: bool, code: int | None, running=None) -> int:
    """The exit code for what the handler reported; ``code`` None means it crashed.

    ``running`` is a callable answering "does anything run here?" (True, False
    or None for unknown); it is called only for a probe that crashed.

    Decision table (a probe is a monitor with interval 0 or unset; it asks only
    "does this run here?", so it never answers 5 or 6: the software or its
    config may simply live elsewhere, e.g. on a DRBD volume mounted on the
    peer, and 6 would ban the resource from the whole cluster):

    | handler outcome                                | probe                      | any other action |
    |------------------------------------------------|----------------------------|------------------|
    | code 0, 7, 8, 9, 1, 190, 191, 2, 3, 4          | code                       | code             |
    | 5 OCF_ERR_INSTALLED: binary/config not here    | 7                          | 5                |
    | 6 OCF_ERR_CONFIGURED: parameter values wrong   | 7 (start will report 6)    | 6                |
    | crashed, running() is False                    | 7                          | 1                |
    | crashed, running() True/None/no hook/raised    | 1 (Pacemaker stops it)     | 1                |

    Parameter values the declared checks refuse (malformed, a required one
    missing, an unknown name) never reach this table: :meth:`Agent.run`
    exits 6 for every action, probes included, as resource-agents' anchors
    do (ocf-rarun's required parameters, IPaddr2's ip_validate), since no
    node can ever succeed with them. So 6 only ever means "wrong
    everywhere", never "missing on this node" (that is 5).
    """
    if code is None:
        if probe and running is not None and running() is False:
            return OCF_NOT_RUNNING
        return OCF_ERR_GENERIC
    if probe and code in (OCF_ERR_INSTALLED, OCF_ERR_CONFIGURED):
        return OCF_NOT_RUNNING
    return code


class Clone:
    """Clone instance facts Pacemaker passes as ``CRM_meta_*``."""

    __slots__ = ("number", "max", "node_max", "promoted_max", "promoted_node_max",
                 "unique", "notify")

    def __init__(self, meta):
        self.number = _int(meta.get("clone"))
        self.max = _int(meta.get("clone_max"))
        self.node_max = _int(meta.get("clone_node_max"))
        self.promoted_max = _int(meta.get("promoted_max", meta.get("master_max")))
        self.promoted_node_max = _int(meta.get("promoted_node_max", meta.get("master_node_max")))
        self.unique = _bool(meta.get("globally_unique"))
        self.notify = _bool(meta.get("notify"))


class Notify:
    """The notification being delivered: ``type`` pre/post, ``operation``, and who is involved.

    ``resources[kind]`` and ``unames[kind]`` are tuples for each kind in
    start, stop, promote, demote, active, inactive, promoted, unpromoted, all.
    """

    __slots__ = ("type", "operation", "resources", "unames")

    def __init__(self, meta):
        self.type = meta.get("notify_type", "")
        self.operation = meta.get("notify_operation", "")
        self.resources = {k: _notify_list(meta, k, "resource") for k in NOTIFY_LISTS}
        self.unames = {k: _notify_list(meta, k, "uname") for k in NOTIFY_LISTS}


def _notify_list(meta, kind, what) -> tuple[str, ...]:
    value = meta.get(f"notify_{kind}_{what}")
    if value is None and kind in NOTIFY_LEGACY:
        value = meta.get(f"notify_{NOTIFY_LEGACY[kind]}_{what}")
    return tuple((value or "").split())


class Context:
    """Everything a handler needs about the current operation.

    ``params`` holds the typed parameter values (defaults applied);
    ``problems`` what was wrong with them. ``meta`` maps every
    ``CRM_meta_*`` name (prefix removed) to its value.
    """

    def __init__(self, agent, action, environ, log=None, clock=time.monotonic):
        self.agent = agent
        self.action = action
        self.instance = environ.get("OCF_RESOURCE_INSTANCE", "")
        values = {k[11:]: v for k, v in environ.items() if k.startswith("OCF_RESKEY_")}
        self.meta = {k[9:]: v for k, v in values.items() if k.startswith("CRM_meta_")}
        self.interval_ms = _int(self.meta.get("interval")) or 0
        declared = agent.actions.get(action)
        timeout_ms = _int(self.meta.get("timeout"))
        self.timeout_s = timeout_ms / 1000 if timeout_ms else (declared.timeout if declared else 20)
        self._clock = clock
        self.deadline = clock() + self.timeout_s
        self.check_level = _int(environ.get("OCF_CHECK_LEVEL")) or 0
        self.clone = Clone(self.meta) if "clone" in self.meta else None
        self.notify = Notify(self.meta) if action == "notify" else None
        self.log = log or Log(agent.name, self.instance, environ)
        self.params, self.problems = agent.parse_params(values)

    @property
    def is_probe(self) -> bool:
        return is_probe(self.action, self.interval_ms)

    @property
    def node(self) -> str:
        """The node this runs on, as Pacemaker names it."""
        return self.meta.get("on_node", "")

    def remaining(self) -> float:
        """Seconds left before Pacemaker's op timeout, less a small reserve."""
        return max(0.0, self.deadline - self._clock() - TIMEOUT_RESERVE_S)

    def run(self, argv, timeout=None, **kwargs):
        """:func:`pacemail.proc.run` bounded by the time left for this operation."""
        from pacemail.proc import run
        left = self.remaining()
        return run(argv, timeout=left if timeout is None else min(timeout, left), **kwargs)


class Log:
    """Messages to syslog (where Pacemaker admins look) and stderr (into Pacemaker's log).

    The syslog tag is ``pacemail-<agent>(<instance>)``; the facility comes
    from ``HA_LOGFACILITY`` (default daemon, ``none`` turns syslog off) and
    ``HA_debug=1`` lets debug messages through.
    """

    LEVELS = {"debug": 7, "info": 6, "warning": 4, "error": 3}  # syslog priorities

    def __init__(self, agent, instance, environ):
        instance = cut(instance, IDENT_MAX)
        self.ident = f"pacemail-{agent}({instance})" if instance else f"pacemail-{agent}"
        self.debugging = (environ.get("HA_debug") or "0").lower() in TRUE_WORDS
        self.facility = environ.get("HA_LOGFACILITY", "daemon").lower()
        self._syslog = None

    def debug(self, msg):
        if self.debugging:
            self._emit("debug", msg)

    def info(self, msg):
        self._emit("info", msg)

    def warning(self, msg):
        self._emit("warning", msg)

    def error(self, msg):
        self._emit("error", msg)

    def _emit(self, level, msg):
        text = printable(str(msg))
        _stderr(f"{self.ident} {level.upper()}: {text}")
        if self.facility == "none":
            return
        try:
            if self._syslog is None:
                import syslog
                facility = getattr(syslog, "LOG_" + self.facility.upper(), syslog.LOG_DAEMON)
                syslog.openlog(self.ident, syslog.LOG_PID, facility)
                self._syslog = syslog
            self._syslog.syslog(self.LEVELS[level], text)
        except (OSError, ValueError):
            pass  # no syslog daemon: stderr still reaches Pacemaker's log


def printable(text: str) -> str:
    """``text`` safe for one log line: control characters escaped, and undecodable
    bytes (surrogate escapes) shown as the ``\\xNN`` the admin's tools show."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else
                   f"\\x{ord(c) - 0xDC00:02x}" if "\udc80" <= c <= "\udcff" else
                   ascii(c)[1:-1] for c in text)


def cut(text: str, limit: int) -> str:
    """``text`` made printable and shortened to about ``limit`` characters."""
    return printable(text if len(text) <= limit else text[:limit] + "...")


def show(value: str, limit: int = 60) -> str:
    """``value`` quoted for a message, shortened and made printable."""
    return "'" + cut(value, limit) + "'"


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _stderr(line: str) -> None:
    if sys.stderr is not None:  # None: DRBD runs its handlers with no stdio at all
        try:
            sys.stderr.write(line + "\n")
        except (OSError, ValueError):
            pass


def _int(value):
    """A count Pacemaker passes (interval, timeout, clone numbers): ASCII digits, else None."""
    if value and value.isascii() and value.isdigit() and len(value) <= INT_DIGITS:
        return int(value)
    return None


def _bool(value) -> bool:
    return (value or "").lower() in TRUE_WORDS
