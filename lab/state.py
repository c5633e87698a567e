"""The lab's state file: what ``lab up`` made, for every later command."""

from __future__ import annotations

import json

from pacemail.lab.topology import STATE_ROOT, Lab, check_name


class NoLab(Exception):
    pass


def save(lab: Lab, **facts) -> None:
    data = {"name": lab.name, "size": lab.size, "two_node": lab.two_node,
            "qdevice": lab.qdevice, **facts}
    lab.state_file.write_text(json.dumps(data, indent=2) + "\n")


def facts(name: str) -> dict:
    path = STATE_ROOT / check_name(name) / "state.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise NoLab(f"no lab named {name!r} is up (no {path})") from None


def load(name: str) -> Lab:
    data = facts(name)
    return Lab(data["name"], data["size"], data.get("two_node", False),
               data.get("qdevice", False))
