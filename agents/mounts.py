"""The mount table of this process's mount namespace, from /proc/self/mountinfo (no subprocess)."""

from __future__ import annotations

import os

MOUNTINFO = "/proc/self/mountinfo"


class Mount:
    """One mountinfo line: ``dev`` is the st_dev of files on it, ``source`` the device text."""

    __slots__ = ("mountpoint", "dev", "fstype", "source", "options")

    def __init__(self, mountpoint, dev, fstype, source, options):
        self.mountpoint, self.dev, self.fstype = mountpoint, dev, fstype
        self.source, self.options = source, options

    @property
    def read_only(self) -> bool:
        return "ro" in self.options


def unescape(text: str) -> str:
    r"""Undo the kernel's octal escapes (``\040`` for a space) in mountinfo paths."""
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and text[i + 1:i + 4].isdigit():
            out.append(chr(int(text[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse(text: str) -> list[Mount]:
    """Mounts in mountinfo order (a later mount on the same point hides an earlier one)."""
    found = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            sep = fields.index("-", 6)
            major, minor = fields[2].split(":")
            found.append(Mount(unescape(fields[4]), os.makedev(int(major), int(minor)),
                               fields[sep + 1], unescape(fields[sep + 2]),
                               frozenset(fields[5].split(","))))
        except (ValueError, IndexError):
            continue
    return found


def table() -> list[Mount]:
    with open(MOUNTINFO, encoding="utf-8", errors="surrogateescape") as f:
        return parse(f.read())


def resolved(path: str, mounts: list[Mount]) -> str:
    """``path`` as the kernel writes it in mountinfo: absolute, symlinks resolved.

    A mount made on /var/run/x (/var/run -> /run) is listed at /run/x, so
    every path compared with the table goes through here first. The last
    name is looked up in ``mounts`` before it is touched: a mount point is
    never a symlink, and a stat of it would reach the mounted filesystem,
    which hangs while an NFS server is gone. Its parents are resolved by
    ``os.path.realpath``; a missing path is resolved as far as it exists.
    """
    points = {m.mountpoint for m in mounts}
    for _ in range(40):  # the kernel's own limit on symlinks in one lookup
        parent, name = os.path.split(path.rstrip("/"))
        if name in ("", ".", ".."):
            return os.path.realpath(path)
        path = os.path.join(os.path.realpath(parent or "/"), name)
        if path in points:
            return path
        try:
            link = os.readlink(path)
        except OSError:  # not a symlink, or absent
            return path
        path = os.path.join(os.path.dirname(path), link)
    return path


def at(mounts: list[Mount], directory: str) -> Mount | None:
    """The mount visible at ``directory`` (the last one stacked there), or None."""
    found = [m for m in mounts if m.mountpoint == directory]
    return found[-1] if found else None


def under(mounts: list[Mount], directory: str) -> list[Mount]:
    """Mounts at or below ``directory``, deepest first: the order to unmount them in."""
    prefix = directory.rstrip("/") + "/"
    found = [m for m in mounts if m.mountpoint == directory or m.mountpoint.startswith(prefix)]
    return sorted(found, key=lambda m: -m.mountpoint.count("/"))
