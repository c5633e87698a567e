"""The lab's power switch: a small daemon in the root namespace, like fence_virtd for VMs.

Fence agents inside the nodes and the ``pacemail lab`` command talk to it over
a unix socket in the lab directory (visible from every node). It owns the
processes of the nodes it boots and reaps them. Protocol: one JSON object per
line each way; request ``{"op": "on"|"off"|"reboot"|"status"|"list"|"exit",
"node": NAME}``, answer ``{"ok": bool, "status": "on"|"off", "nodes": {...},
"error": TEXT}``.
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import sys
import threading
import time

from pacemail.lab import power
from pacemail.lab.state import load
from pacemail.lab.topology import Lab, check_name

REQUEST_TIMEOUT_S = 60.0


class Switch:
    def __init__(self, lab: Lab):
        self.lab = lab
        self.lock = threading.Lock()  # one power operation at a time, like a real PDU
        self.procs = {}

    def handle(self, request: dict) -> dict:
        op, name = request.get("op"), request.get("node")
        if op == "list":
            return {"ok": True, "nodes": {n.name: self._status(n) for n in self.lab.nodes}}
        if op == "exit":
            threading.Thread(target=self._exit, daemon=True).start()
            return {"ok": True}
        try:
            node = self.lab.node(str(name))
        except KeyError as exc:
            return {"ok": False, "error": exc.args[0]}
        with self.lock:
            if op not in ("on", "off", "reboot", "status"):
                return {"ok": False, "error": f"unknown operation {op!r}"}
            try:
                if op in ("off", "reboot"):
                    power.power_off(self.lab, node)
                if op in ("on", "reboot") and not power.is_on(self.lab, node):
                    self.procs[node.name] = power.boot(self.lab, node)
            except RuntimeError as exc:
                return {"ok": False, "error": str(exc), "status": self._status(node)}
            self._log(f"{op} {node.name} -> {self._status(node)}")
            return {"ok": True, "status": self._status(node)}

    def reap(self) -> None:
        while True:
            for proc in list(self.procs.values()):
                proc.poll()
            time.sleep(1)

    def _status(self, node) -> str:
        return "on" if power.is_on(self.lab, node) else "off"

    def _exit(self) -> None:
        time.sleep(0.1)
        os._exit(0)

    def _log(self, message: str) -> None:
        print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} switchd: {message}", flush=True)


def serve(lab: Lab) -> None:
    switch = Switch(lab)
    path = lab.switch_socket
    if path.exists():
        path.unlink()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            self.connection.settimeout(REQUEST_TIMEOUT_S)
            try:
                request = json.loads(self.rfile.readline() or b"{}")
                answer = switch.handle(request if isinstance(request, dict) else {})
            except (ValueError, OSError) as exc:
                answer = {"ok": False, "error": f"bad request: {exc}"}
            self.wfile.write(json.dumps(answer).encode() + b"\n")

    server = socketserver.ThreadingUnixStreamServer(str(path), Handler)
    os.chmod(path, 0o600)
    threading.Thread(target=switch.reap, daemon=True).start()
    switch._log(f"serving lab {lab.name} on {path}")
    server.serve_forever()


def request(socket_path: str, op: str, node: str | None = None,
            timeout: float = REQUEST_TIMEOUT_S) -> dict:
    """Client side, used by the CLI and the fence agent."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(socket_path)
        sock.sendall(json.dumps({"op": op, "node": node}).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data or b'{"ok": false, "error": "no answer from the lab switch"}')


if __name__ == "__main__":
    serve(load(check_name(sys.argv[1])))
