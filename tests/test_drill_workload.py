"""The drill client's probes see a service come back within their stated resolution."""

from __future__ import annotations

import json
import socket
import socketserver
import subprocess
import sys
import threading
import time

from pacemail.drills import workload


class SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for one message: greeting, EHLO, MAIL, RCPT, DATA, QUIT."""

    def handle(self):
        self.wfile.write(b"220 test ESMTP\r\n")
        for line in self.rfile:
            verb = line[:4].upper()
            if verb == b"DATA":
                self.wfile.write(b"354 go on\r\n")
                for body in self.rfile:
                    if body in (b".\r\n", b".\n"):
                        break
                self.wfile.write(b"250 queued\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_returning_smtp_service_is_seen_within_the_probe_resolution():
    """The port refuses for 1.5 s, then answers: the sender's first accepted message comes
    at most RESOLUTION_S (plus the dialogue itself) after the service is back."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pacemail.drills.workload", "run", "--address", "127.0.0.1",
         "--run-id", "t", "--smtp-port", str(port), "--imap-port", str(free_port()),
         "--messages", "1", "--duration", "20"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    time.sleep(1.5)
    server = socketserver.ThreadingTCPServer(("127.0.0.1", port), SMTPHandler)
    back = time.time()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        events = []
        for line in proc.stdout:
            events.append(json.loads(line))
            if events[-1].get("ev") == "smtp" and events[-1].get("ok"):
                break
        proc.stdin.close()
        proc.wait(timeout=10)
    finally:
        server.shutdown()
        proc.kill()
    failed = [e for e in events if e.get("ev") == "smtp" and not e["ok"]]
    ok = events[-1]
    assert len(failed) >= 1.5 / (workload.RETRY_S + workload.CONNECT_S)   # it kept trying
    assert ok["ok"] and ok["t"] - back <= workload.RESOLUTION_S + 0.1, ok["t"] - back
