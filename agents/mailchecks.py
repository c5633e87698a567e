"""Parameter checks the mail agents share (pure: ValueError with the reason).

Values reach commands as argv words, never through a shell; these checks
also refuse what the daemons' own scripts would mangle (postfix-script is
shell): whitespace, control characters and undecodable bytes in paths.
"""

from __future__ import annotations

import _socket

SAFE_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_=.:/@,+-")


def check_path(text: str) -> None:
    if not text.startswith("/") or ".." in text.split("/") or \
            not all(c.isprintable() and not c.isspace() for c in text):
        raise ValueError("is not an absolute path without '..', spaces or control characters")


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
    if not text or not all(c.isprintable() and not c.isspace() for c in text):
        raise ValueError("must be printable without spaces")
