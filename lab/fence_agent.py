"""fence_pacemail_lab: a fence agent for lab nodes, following the fence-agents conventions.

Options come as ``key=value`` lines on stdin (how Pacemaker's fenced calls
agents) or as ``--key=value`` / ``--key value`` arguments. Actions: on, off,
reboot, status, list, monitor, metadata, validate-all. Exit codes: 0 success;
for status 0 = on, 2 = off; 1 = failure. The agent asks the lab's power
switch over its unix socket, which answers only after the node is really
down (its init reaped), so success is never reported early. Like a BMC, the
switch may want a password: when the lab has ``power-password`` (root-only,
written by whoever sets one), every action but metadata needs ``password=``
to match it; a lab without one accepts any.
"""

from __future__ import annotations

import sys

from pacemail.lab.topology import LAB_NAME_FILE, STATE_ROOT

NAME = "fence_pacemail_lab"
ACTIONS = ("on", "off", "reboot", "status", "list", "monitor", "metadata", "validate-all")
EXIT_OK, EXIT_FAIL, EXIT_OFF = 0, 1, 2
PASSWORD_FILE = "power-password"


def main(argv: list[str] | None = None, stdin=None) -> int:
    if argv is None:
        argv = sys.argv[1:]
        stdin = None if argv else sys.stdin  # no arguments: options come on stdin
    opts = parse(argv, stdin)
    action = opts.get("action", "reboot")
    if action == "metadata":
        print(metadata())
        return EXIT_OK
    if action not in ACTIONS:
        return _fail(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    lab = opts.get("lab") or _own_lab()
    if not lab:
        return _fail("the 'lab' option (the lab's name) is required outside a lab node")
    if not _password_ok(lab, opts.get("password")):
        return _fail("wrong or missing password for the lab's power switch")
    if action == "validate-all":
        return EXIT_OK
    from pacemail.lab import switchd  # noqa: PLC0415 - only the acting path needs sockets/json

    socket_path = str(STATE_ROOT / lab / "switch.sock")
    node = opts.get("port") or opts.get("plug") or opts.get("nodename")
    if action in ("list", "monitor"):
        op, node = "list", None
    elif not node:
        return _fail(f"action {action} needs the node to fence (port=NODE)")
    else:
        op = action
    try:
        answer = switchd.request(socket_path, op, node, timeout=float(opts.get("power_timeout", 60)))
    except OSError as exc:
        return _fail(f"cannot reach the lab switch at {socket_path}: {exc}")
    if not answer.get("ok"):
        return _fail(answer.get("error", "the lab switch refused"))
    if action == "list":
        for name in answer["nodes"]:
            print(f"{name},")
        return EXIT_OK
    if action == "status":
        print(f"Status: {answer['status'].upper()}")
        return EXIT_OK if answer["status"] == "on" else EXIT_OFF
    expected = "off" if action == "off" else "on"
    if action != "monitor" and answer.get("status") != expected:
        return _fail(f"{node} is {answer.get('status')} after {action}")
    return EXIT_OK


def parse(argv: list[str], stdin) -> dict:
    opts: dict[str, str] = {}
    if stdin is not None:
        for line in stdin.read().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                opts[key.strip()] = value.strip()
    args = iter(argv)
    for arg in args:
        if arg.startswith("--"):
            key, sep, value = arg[2:].partition("=")
            opts[key.replace("-", "_")] = value if sep else next(args, "")
        elif arg.startswith("-o"):
            opts["action"] = arg[2:] or next(args, "")
        elif arg.startswith("-n"):
            opts["port"] = arg[2:] or next(args, "")
    return opts


def metadata() -> str:
    params = [
        ("action", "Fencing action", "reboot", "0"),
        ("port", "Name of the lab node to act on (also: plug, nodename)", "", "0"),
        ("plug", "Name of the lab node to act on", "", "0"),
        ("lab", "Name of the pacemail lab whose power switch to use "
                "(default: the lab of the node the agent runs on)", "", "0"),
        ("power_timeout", "Seconds to wait for the switch to confirm", "60", "0"),
        ("password", "Password of the lab's power switch, when it has one", "", "0"),
    ]
    out = ['<?xml version="1.0" ?>',
           f'<resource-agent name="{NAME}" shortdesc="Fence agent for pacemail lab nodes">',
           "<longdesc>Powers pacemail lab nodes off and on through the lab's power switch "
           "daemon, the lab's analogue of fence_virtd.</longdesc>",
           "<vendor-url>https://pacemail.invalid/</vendor-url>",
           "<parameters>"]
    for name, desc, default, required in params:
        out += [f'<parameter name="{name}" unique="0" required="{required}">',
                f'<getopt mixed="--{name}=[value]" />',
                f'<content type="string" default="{default}" />',
                f'<shortdesc lang="en">{desc}</shortdesc>',
                "</parameter>"]
    out += ["</parameters>", "<actions>"]
    for action in ACTIONS:
        out.append(f'<action name="{action}" />')
    out += ["</actions>", "</resource-agent>"]
    return "\n".join(out)


def _password_ok(lab: str, given: str | None) -> bool:
    try:
        with open(STATE_ROOT / lab / PASSWORD_FILE) as f:
            wanted = f.read().strip()
    except FileNotFoundError:
        return True
    return given is not None and given.strip() == wanted


def _own_lab() -> str:
    try:
        with open(LAB_NAME_FILE) as f:
            return f.read().strip()
    except OSError:
        return ""


def _fail(message: str) -> int:
    print(f"{NAME}: {message}", file=sys.stderr)
    return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
