"""What Pacemaker accepts: one check for each kind of value a description holds.

Every value of a description reaches the CIB as text, and the reader
(``yamlread``) holds each one against a check from here, so a value is refused
where it is written instead of being rewritten on the way (``0x1F`` as 31),
cut, or called invalid later by crm_verify or an agent. A check returns the
text as it goes into the CIB or raises :class:`Invalid` saying what was
expected. Numbers are ASCII digits only (``re.ASCII``): Python's ``\\d`` and
``int()`` take the digits of every script, Pacemaker takes 0-9.
"""

from __future__ import annotations

import posixpath
import re
import unicodedata

from pacemail.controller import clusteroptions

# Names that become XML ids (``pm-NAME``): an NCName in ASCII, short enough to read.
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,62}", re.ASCII)
NAME_TEXT = "a name of letters, digits, '_', '.', '-' starting with a letter"
NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", re.ASCII)
WORD = re.compile(r"[A-Za-z0-9_.+-]{1,64}", re.ASCII)
# Names of nvpairs (parameters, meta attributes, options): their ids are derived
# from them, so only characters an id keeps as they are.
ATTRIBUTE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,99}", re.ASCII)
ATTRIBUTE_TEXT = "a name of letters, digits, '_', '.', '-'"
# A fence agent is a program in the fence agent directory, found by name alone.
FENCE_AGENT = re.compile(r"fence_[A-Za-z0-9_]{1,60}", re.ASCII)
FENCE_AGENT_TEXT = "a fence agent by name, such as fence_ipmilan (fence_*, no path)"
# standard[:provider]:type; a type is a name, never a path.
AGENT = re.compile(r"(ocf:[A-Za-z0-9_-]{1,60}|systemd|service|lsb|nagios|upstart)"
                   r":[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]{0,99}|stonith:fence_[A-Za-z0-9_]{1,60}", re.ASCII)
# An interface as the kernel names it: at most 15 characters (IFNAMSIZ - 1).
INTERFACE = re.compile(r"(?!\.\.?$)[A-Za-z0-9_.-]{1,15}", re.ASCII)
# A port, plug or VM name in pcmk_host_map: ';', ':', ',', '=' and blanks separate its entries.
HOST_PORT = re.compile(r"[A-Za-z0-9_.@/+-]{1,100}", re.ASCII)

_INTEGER = re.compile(r"[+-]?[0-9]{1,18}", re.ASCII)
_DURATION = re.compile(r"([0-9]{1,12})(ms|msec|us|usec|s|sec|m|min|h|hr)?", re.ASCII)
_UNITS_MS = {"ms": 1.0, "msec": 1.0, "us": 0.001, "usec": 0.001, None: 1000.0, "s": 1000.0,
             "sec": 1000.0, "m": 60000.0, "min": 60000.0, "h": 3600000.0, "hr": 3600000.0}
# Pacemaker keeps operation timeouts and intervals as milliseconds in an int.
MAX_MS = 2**31 - 1
INFINITY = 1000000          # Pacemaker's INFINITY score; larger ones mean nothing more
_BOOLEANS = {"true": "true", "on": "true", "yes": "true", "y": "true", "1": "true",
             "false": "false", "off": "false", "no": "false", "n": "false", "0": "false"}
SHOWN = 60
MAX_TEXT = 4096


class Invalid(ValueError):
    """A value Pacemaker would not take; the message says what was expected."""


class Refused(Invalid):
    """A value refused for a reason other than its form; the message is the whole story."""


def shown(value, limit: int = SHOWN) -> str:
    """``value`` quoted for a message, cut to ``limit`` characters (a value may be huge)."""
    text = repr(str(value))
    return text if len(text) <= limit else f"{text[:limit]}...' ({len(str(value))} characters)"


def xml_text(text: str) -> str:
    """Text an XML attribute can hold and a fence agent's ``key=value`` lines cannot be split by.

    Control characters (newlines included), surrogates and the non-characters
    U+FFFE/U+FFFF are refused: lxml cannot write them, and a newline in a
    fence parameter would add a parameter of its own on the agent's input.
    No value of a cluster needs more than ``MAX_TEXT`` characters.
    """
    if len(text) > MAX_TEXT:
        raise Invalid(f"at most {MAX_TEXT} characters")
    for i, c in enumerate(text):
        if unicodedata.category(c) in ("Cc", "Cs") or c in "\ufffe\uffff":
            raise Invalid(f"text without control characters (U+{ord(c):04X} at character {i + 1})")
    return text


def integer(text: str, low: int | None = None, high: int | None = None) -> int:
    """A whole number in decimal ASCII digits within ``low``..``high``."""
    span = span_text(low, high)
    if not _INTEGER.fullmatch(text):
        raise Invalid(f"a whole number{span} in decimal digits")
    value = int(text)
    if (low is not None and value < low) or (high is not None and value > high):
        raise Invalid(f"a whole number{span}")
    return value


def duration_ms(text: str) -> float:
    """Milliseconds of a duration :func:`duration` accepted (``90``, ``20s``, ``1500ms``)."""
    m = _DURATION.fullmatch(text)
    if m is None:
        raise Invalid("a duration such as 30s, 1500ms or 2min")
    return int(m[1]) * _UNITS_MS[m[2]]


def duration(text: str, low_ms: float = 0) -> str:
    """A Pacemaker duration: ASCII digits and a unit (none means seconds), at most ~24 days."""
    ms = duration_ms(text)
    if ms > MAX_MS:
        raise Invalid(f"a duration of at most {MAX_MS // 1000}s (Pacemaker keeps milliseconds in an int)")
    if ms < low_ms:
        raise Invalid(f"a duration of at least {low_ms / 1000:g}s")
    return text


def score(text: str) -> str:
    """A score: a whole number from -INFINITY to INFINITY (1000000), or +-INFINITY."""
    if text.lstrip("+-") == "INFINITY" and len(text) <= len("INFINITY") + 1:
        return text
    try:
        integer(text, -INFINITY, INFINITY)
    except Invalid:
        raise Invalid("a score: a whole number from -1000000 to 1000000, INFINITY or -INFINITY") from None
    return text


def score_number(text: str) -> float:
    """A score as a number to compare: +-INFINITY as +-inf; anything unreadable 0."""
    if text.lstrip("+-") == "INFINITY":
        return float("-inf") if text.startswith("-") else float("inf")
    try:
        return int(text)
    except ValueError:
        return 0


def boolean(text: str) -> str:
    """Pacemaker's booleans, as true or false."""
    try:
        return _BOOLEANS[text.lower()]
    except KeyError:
        raise Invalid("true or false") from None


def percentage(text: str) -> str:
    if not re.fullmatch(r"[0-9]{1,3}%", text, re.ASCII):
        raise Invalid("a percentage such as 80%")
    return text


def choice(*choices: str):
    def check(text: str) -> str:
        if text not in choices:
            raise Invalid("one of " + ", ".join(choices))
        return text
    return check


def path(text: str, root: str = "/") -> str:
    """An absolute path, normalised (``//``, ``/./``, a trailing ``/``), that stays under ``root``.

    ``..`` is refused outright: resolved as text it can leave the root (``/srv/../../etc`` is
    ``/etc``), and resolved on the node through a symbolic link it can go anywhere.
    """
    where = "an absolute path" if root == "/" else f"an absolute path under {root}"
    if not text.startswith("/") or "\0" in text:
        raise Invalid(where)
    if ".." in text.split("/"):
        raise Invalid(f"{where} without '..'")
    normal = "/" + posixpath.normpath(text).lstrip("/")
    if root != "/" and not normal.startswith(root.rstrip("/") + "/"):
        raise Invalid(where)
    return normal


def device(text: str) -> str:
    return path(text, root="/dev")


def mount_point(text: str) -> str:
    """A directory other than / itself."""
    normal = path(text)
    if normal == "/":
        raise Invalid("an absolute directory other than /")
    return normal


OPTION_KINDS = {
    "boolean": boolean,
    "integer": lambda text: text if text.lstrip("+-") == "INFINITY" else str(integer(text)),
    "positive": lambda text: str(integer(text, low=1)),
    "time": duration,
    "signed-time": lambda text: text if text == "-1" else duration(text),
    "percentage": percentage,
    "string": lambda text: text,
}



def _option_check(name: str, kind: str, choices: tuple[str, ...]):
    if name in clusteroptions.MAINTAINED:
        def refuse(text: str) -> str:
            raise Refused(f"{name} is set by Pacemaker itself" if name != "cluster-name"
                          else "the cluster's name is cluster.name")
        return refuse
    return choice(*choices) if kind == "select" else OPTION_KINDS[kind]


# Every cluster option by Pacemaker's own option table (``clusteroptions``).
CLUSTER_OPTIONS = {name: _option_check(name, kind, choices)
                   for name, (kind, choices) in clusteroptions.TABLE.items()}

# Meta attributes and operation defaults Pacemaker reads with a type; others pass as text.
META = {
    "priority": lambda text: str(integer(text, -INFINITY, INFINITY)),
    "resource-stickiness": score,
    "migration-threshold": score,
    "failure-timeout": duration,
    "target-role": choice("Stopped", "Started", "Unpromoted", "Promoted"),
    "is-managed": boolean, "maintenance": boolean, "notify": boolean, "interleave": boolean,
    "globally-unique": boolean, "ordered": boolean, "promotable": boolean,
    "allow-migrate": boolean, "critical": boolean,
    "clone-max": lambda text: str(integer(text, 0, 1000)),
    "clone-node-max": lambda text: str(integer(text, 0, 1000)),
    "promoted-max": lambda text: str(integer(text, 0, 1000)),
    "promoted-node-max": lambda text: str(integer(text, 0, 1000)),
    "multiple-active": choice("block", "stop_only", "stop_start", "stop_unexpected"),
    "requires": choice("nothing", "quorum", "fencing", "unfencing"),
    "timeout": duration, "interval": duration, "start-delay": duration,
    "record-pending": boolean, "enabled": boolean,
    "on-fail": choice("ignore", "block", "demote", "stop", "restart", "standby", "fence",
                      "restart-container"),
}


def span_text(low, high) -> str:
    if low is not None and high is not None:
        return f" from {low} to {high}"
    if low is not None:
        return f" of at least {low}"
    if high is not None:
        return f" of at most {high}"
    return ""
