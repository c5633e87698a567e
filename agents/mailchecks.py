"""Parameter checks the agents share (pure: ValueError with the reason; see ocf.Param).

Values reach commands as argv words, never through a shell; these checks
also refuse what the daemons' own scripts would mangle (postfix-script is
shell): whitespace, control characters and undecodable bytes in paths.
"""

from __future__ import annotations

import _socket

SAFE_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_=.:/@,+-")
PATH_MAX = 4095  # bytes of a path Linux takes (PATH_MAX less the NUL)
NAME_MAX = 255   # bytes of one name in it
NAME_LIMIT = 255  # characters of a user name: an e-mail address fits (RFC 5321)


def check_path(text: str) -> str:
    """An absolute path, normalised (no '//', '/./' or trailing '/').

    Refused: a relative path (it would depend on the agent's working
    directory), '..' (it climbs out of where the path says it is, and
    through symlinks differently than it reads), blanks, control characters,
    and lengths Linux refuses (ENAMETOOLONG).
    """
    if not text.startswith("/") or ".." in text.split("/") or \
            not all(c.isprintable() and not c.isspace() for c in text):
        raise ValueError("is not an absolute path without '..', spaces or control characters")
    names = [n for n in text.split("/") if n not in ("", ".")]
    if len(text.encode()) > PATH_MAX or any(len(n.encode()) > NAME_MAX for n in names):
        raise ValueError(f"is longer than Linux allows ({PATH_MAX} bytes, {NAME_MAX} a name)")
    return "/" + "/".join(names)


def check_ip(text: str) -> None:
    for family in (_socket.AF_INET, _socket.AF_INET6):
        try:
            _socket.inet_pton(family, text)
            return
        except OSError:
            continue
    raise ValueError("is not an IPv4 or IPv6 address")


def check_port(value: int) -> None:
    if not 1 <= value <= 65535:
        raise ValueError("is not a port number (1-65535)")


def check_positive(value: int) -> None:
    if value < 1:
        raise ValueError("must be at least 1")


def check_words(text: str) -> None:
    """Extra command-line options: blank-separated words of letters, digits and _=.:/@,+-."""
    if not all(set(word) <= SAFE_WORD for word in text.split()):
        raise ValueError("may hold only blank-separated options of letters, digits and _=.:/@,+-")


def check_name(text: str) -> None:
    """A login name: printable, no blanks, at most NAME_LIMIT characters."""
    if not text or not all(c.isprintable() and not c.isspace() for c in text):
        raise ValueError("must be printable without spaces")
    if len(text) > NAME_LIMIT:
        raise ValueError(f"is longer than {NAME_LIMIT} characters")
