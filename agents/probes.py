"""Mail protocol probes: SMTP and LMTP greetings, an IMAP login, each within a deadline.

Sockets come from the C module ``_socket`` (socket.py's enum classes cost
milliseconds on every monitor, see :mod:`pacemail.agents.rtnl`). Every read
and write is bounded by one deadline for the whole conversation, and each
probe ends its session cleanly (QUIT, LOGOUT). A failure raises
:class:`ProbeError` with one line saying what was seen.
"""

from __future__ import annotations

import _socket
import time

MAX_LINE = 4096
MAX_LINES = 100


class ProbeError(Exception):
    """The service did not answer as it should (or not in time)."""


def endpoint(host: str, port: int) -> tuple[int, tuple]:
    """(address family, socket address) of an IP address and port."""
    for family in (_socket.AF_INET, _socket.AF_INET6):
        try:
            _socket.inet_pton(family, host)
            return family, (host, port)
        except OSError:
            continue
    raise ProbeError(f"{host!r} is not an IP address")


class Session:
    """One line-oriented conversation with a server, all of it before ``deadline``."""

    def __init__(self, where, timeout: float):
        self.where = where if isinstance(where, str) else f"{where[1][0]}:{where[1][1]}"
        self.deadline = time.monotonic() + timeout
        family, address = (_socket.AF_UNIX, where) if isinstance(where, str) else where
        self.sock = _socket.socket(family, _socket.SOCK_STREAM)
        self.buf = b""
        try:
            self._arm()
            self.sock.connect(address)
        except OSError as exc:
            self.close()
            raise ProbeError(f"cannot connect to {self.where}: {_why(exc)}") from None

    def _arm(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        self.sock.settimeout(left)

    def line(self) -> bytes:
        """The next line, without its CRLF."""
        while b"\n" not in self.buf:
            if len(self.buf) > MAX_LINE:
                raise ProbeError(f"{self.where} sent a line longer than {MAX_LINE} bytes")
            try:
                self._arm()
                data = self.sock.recv(MAX_LINE)
            except OSError as exc:
                raise ProbeError(f"no answer from {self.where}: {_why(exc)}") from None
            if not data:
                raise ProbeError(f"{self.where} closed the connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def send(self, text: str) -> None:
        try:
            self._arm()
            self.sock.sendall(text.encode("utf-8", "surrogateescape") + b"\r\n")
        except OSError as exc:
            raise ProbeError(f"cannot send to {self.where}: {_why(exc)}") from None

    def reply(self, expected: bytes, what: str) -> None:
        """Read an SMTP/LMTP reply (continued by ``NNN-`` lines); ProbeError unless ``expected``."""
        for _ in range(MAX_LINES):
            line = self.line()
            if line[:3] != expected:
                raise ProbeError(f"{self.where} answered {what} with {_show(line)}")
            if line[3:4] != b"-":
                return
        raise ProbeError(f"{self.where} sent more than {MAX_LINES} lines for {what}")

    def tagged(self, tag: bytes, what: str) -> list[bytes]:
        """Untagged IMAP lines up to the tagged reply; ProbeError unless it is OK."""
        seen = []
        for _ in range(MAX_LINES):
            line = self.line()
            if line.startswith(tag + b" "):
                if line[len(tag) + 1:len(tag) + 3].upper() != b"OK":
                    raise ProbeError(f"{self.where} answered {what} with {_show(line)}")
                return seen
            seen.append(line)
        raise ProbeError(f"{self.where} sent more than {MAX_LINES} lines for {what}")

    def close(self) -> None:
        self.sock.close()


def smtp(where, timeout: float, hello: str = "") -> None:
    """An SMTP (or, with ``hello``, LMTP: LHLO) server greets with 220 and takes QUIT.

    ``where`` is (family, (host, port)) from :func:`endpoint` or a unix socket path.
    """
    s = Session(where, timeout)
    try:
        s.reply(b"220", "the connection")
        if hello:
            s.send(f"LHLO {hello}")
            s.reply(b"250", "LHLO")
        s.send("QUIT")
        s.reply(b"221", "QUIT")
    finally:
        s.close()


def imap(where, timeout: float, user: str = "", password: str = "") -> None:
    """An IMAP server greets with ``* OK``; with ``user``, a login sees INBOX (STATUS), then LOGOUT."""
    s = Session(where, timeout)
    try:
        greeting = s.line()
        if not greeting.startswith(b"* OK"):
            raise ProbeError(f"{s.where} greeted with {_show(greeting)}, not * OK")
        if user:
            s.send(f"a1 LOGIN {quote(user)} {quote(password)}")
            s.tagged(b"a1", "LOGIN")
            s.send("a2 STATUS INBOX (MESSAGES)")
            if not any(line.upper().startswith(b"* STATUS INBOX ") for line in s.tagged(b"a2", "STATUS INBOX")):
                raise ProbeError(f"{s.where} did not report INBOX for {user}")
        s.send("a3 LOGOUT")
        s.tagged(b"a3", "LOGOUT")
    finally:
        s.close()


def quote(text: str) -> str:
    """An IMAP quoted string; ProbeError for what a quoted string cannot carry."""
    if any(c in "\r\n\0" for c in text):
        raise ProbeError("a user name or password holds CR, LF or NUL")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _show(line: bytes) -> str:
    return repr(line[:80].decode("ascii", "replace"))


def _why(exc: OSError) -> str:
    if isinstance(exc, TimeoutError) or "timed out" in str(exc):
        return "timed out"
    return exc.strerror or str(exc)
