"""The drill workload, run inside the lab's client namespace: an SMTP sender and an IMAP reader.

Started by :mod:`pacemail.drills.client` as
``ip netns exec <client netns> python -m pacemail.drills.workload run ...``; it
writes one JSON event per line on stdout (``t`` is unix time, so the parent's
timings share one clock) and stops sending new messages when its stdin says
``stop`` or closes, or at its deadline. Stdlib only: it starts fast.

The sender behaves like an MTA: numbered messages, one connection each; a
message counts as accepted only after the 250 reply to DATA; on a connection
failure or a 4xx reply it retries the same message; a 5xx reply is a
permanent rejection. The reader logs in over IMAP afresh for every poll of
the inbox. During an outage both retry every RETRY_S with a CONNECT_S connect
timeout (a SYN to an address nobody holds yet is not answered, and the
kernel would resend it only after a second), so a service back is seen at
most RESOLUTION_S late; a connected session keeps the longer TIMEOUT_S.
``verify`` reads the inbox once and reports which message numbers of a run
it holds (duplicates included).
"""

from __future__ import annotations

import argparse
import imaplib
import json
import smtplib
import socket
import sys
import threading
import time
from email.message import EmailMessage

HEADER = "X-Pacemail-Drill"
TIMEOUT_S = 2.0        # a connected session's replies
CONNECT_S = 0.15       # a connection attempt
RETRY_S = 0.05         # between failed attempts
RESOLUTION_S = CONNECT_S + RETRY_S   # how late a returning service can be seen
_out = threading.Lock()


def emit(ev: str, **fields) -> None:
    with _out:
        sys.stdout.write(json.dumps({"t": time.time(), "ev": ev, **fields}) + "\n")
        sys.stdout.flush()


def message(run_id: str, n: int, address: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = msg["To"] = address
    msg["Subject"] = f"pacemail drill {run_id} #{n}"
    msg["Message-ID"] = f"<{run_id}.{n}@drill.pacemail>"
    msg[HEADER] = f"{run_id} {n}"
    msg.set_content(f"message {n} of drill run {run_id}\n")
    return msg


def smtp_code(exc: Exception) -> int | None:
    """The SMTP reply code behind a failure; None for a connection-level failure."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return max(code for code, _ in exc.recipients.values())
    return getattr(exc, "smtp_code", None)


def connect(host: str, port: int, timeout: float) -> socket.socket:
    """A connection tried for CONNECT_S at most, then given ``timeout`` for its replies."""
    sock = socket.create_connection((host, port), CONNECT_S)
    sock.settimeout(timeout)
    return sock


class SMTP(smtplib.SMTP):
    def _get_socket(self, host, port, timeout):
        return connect(host, port, timeout)


class IMAP4(imaplib.IMAP4):
    def _create_socket(self, timeout):
        return connect(self.host, self.port, timeout)


def send(args, n: int) -> None:
    with SMTP(args.address, args.smtp_port, timeout=TIMEOUT_S,
              local_hostname="client.drill") as smtp:
        smtp.send_message(message(args.run_id, n, args.mailbox))  # raises unless DATA got 250


def sender(args, stop: threading.Event) -> None:
    deadline = time.time() + args.duration
    n = 1
    while n <= args.messages and not stop.is_set() and time.time() < deadline:
        attempt = 1
        drain_deadline = None
        while True:
            try:
                send(args, n)
                emit("smtp", ok=True, n=n, attempt=attempt)
                break
            except (OSError, smtplib.SMTPException) as exc:
                code = smtp_code(exc)
                if code is not None and code >= 500:
                    emit("smtp", ok=False, n=n, attempt=attempt, code=code, permanent=True,
                         error=str(exc)[:200])
                    break
                emit("smtp", ok=False, n=n, attempt=attempt, code=code, error=str(exc)[:200])
            if stop.is_set():  # stopping: finish this message, bounded by the drain time
                drain_deadline = drain_deadline or time.time() + args.drain
                if time.time() >= drain_deadline:
                    emit("smtp_abandoned", n=n)
                    break
            time.sleep(RETRY_S)
            attempt += 1
        n += 1
        stop.wait(args.interval)


def reader(args, stop: threading.Event) -> None:
    """A fresh login per poll: what a user opening a mail client sees, not a session that lingers."""
    while not stop.is_set():
        conn = None
        try:
            conn = IMAP4(args.address, args.imap_port, timeout=TIMEOUT_S)
            conn.login(args.user, args.password)
            typ, data = conn.status("INBOX", "(MESSAGES)")
            if typ != "OK":
                raise imaplib.IMAP4.error(f"STATUS: {typ} {data}")
            conn.logout()
            emit("imap", ok=True)
            stop.wait(args.interval)
        except (OSError, imaplib.IMAP4.error) as exc:
            emit("imap", ok=False, error=str(exc)[:200])
            _close(conn)
            stop.wait(RETRY_S)


def _close(conn) -> None:
    if conn is not None:
        try:
            conn.shutdown()
        except OSError:
            pass


def verify(args) -> list[int]:
    """Message numbers of run ``args.run_id`` in the inbox, one entry per copy."""
    conn = imaplib.IMAP4(args.address, args.imap_port, timeout=10)
    try:
        conn.login(args.user, args.password)
        conn.select("INBOX", readonly=True)
        typ, data = conn.search(None, "HEADER", HEADER, args.run_id)
        ids = data[0].split() if typ == "OK" and data and data[0] else []
        numbers = []
        if ids:
            typ, data = conn.fetch(b",".join(ids).decode(), f"(BODY.PEEK[HEADER.FIELDS ({HEADER})])")
            for item in data:
                if isinstance(item, tuple):
                    numbers += header_numbers(item[1].decode(errors="replace"), args.run_id)
        return numbers
    finally:
        conn.logout()


def header_numbers(headers: str, run_id: str) -> list[int]:
    out = []
    for line in headers.splitlines():
        name, _, value = line.partition(":")
        words = value.split()
        if name.strip().lower() == HEADER.lower() and len(words) == 2 and words[0] == run_id:
            out.append(int(words[1]))
    return out


def watch_stdin(stop: threading.Event) -> None:
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    stop.set()


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m pacemail.drills.workload")
    p.add_argument("mode", choices=["run", "verify"])
    p.add_argument("--address", required=True)
    p.add_argument("--run-id", required=True)
    p.add_argument("--user", default="drill")
    p.add_argument("--password", default="drill")
    p.add_argument("--mailbox", default="drill@lab.test")
    p.add_argument("--smtp-port", type=int, default=25)
    p.add_argument("--imap-port", type=int, default=143)
    p.add_argument("--messages", type=int, default=2000, help="at most this many messages")
    p.add_argument("--duration", type=float, default=300.0, help="stop sending after this")
    p.add_argument("--interval", type=float, default=0.1, help="between messages and polls")
    p.add_argument("--drain", type=float, default=30.0, help="retry time left after stop")
    args = p.parse_args(argv)
    if args.mode == "verify":
        try:
            emit("mailbox", ok=True, numbers=verify(args))
        except (OSError, imaplib.IMAP4.error) as exc:
            emit("mailbox", ok=False, error=str(exc)[:200])
            return 1
        return 0
    stop = threading.Event()
    threading.Thread(target=watch_stdin, args=(stop,), daemon=True).start()
    timer = threading.Timer(args.duration + args.drain, stop.set)
    timer.daemon = True
    timer.start()
    threads = [threading.Thread(target=f, args=(args, stop)) for f in (sender, reader)]
    for t in threads:
        t.start()
    threads[0].join()
    stop.set()
    threads[1].join()
    emit("done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
