"""Putting the agents where Pacemaker looks: ``$OCF_ROOT/resource.d/pacemail/<name>``.

Each installed file is a short launcher (:func:`script`) bound to the
interpreter pacemail is installed in, so an agent always runs the pacemail
its launcher was written by.
Every function is idempotent and returns what it found or did.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
import sysconfig
from pathlib import Path

from pacemail.agents import NAMES, load

PROVIDER = "pacemail"


class Installed:
    """Where agent ``name`` goes and what is there: ``state`` is installed, missing or outdated."""

    __slots__ = ("name", "version", "path", "state")

    def __init__(self, name: str, version: str, path: Path, state: str):
        self.name, self.version, self.path, self.state = name, version, path, state


def default_python() -> str:
    """This interpreter under one stable name: a venv's python, python3 and python3.11
    are the same program, and install should not flip between them."""
    versioned = Path(sys.prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    return str(versioned) if os.access(versioned, os.X_OK) else sys.executable


def default_root(environ=os.environ) -> Path:
    return Path(environ.get("OCF_ROOT") or "/usr/lib/ocf")


def provider_dir(root: Path) -> Path:
    return Path(root) / "resource.d" / PROVIDER


def agent_path(root: Path, name: str) -> Path:
    return provider_dir(root) / name


def launcher(name: str, python: str | None = None) -> str:
    """The text of the executable Pacemaker runs for ocf:pacemail:<name>."""
    return script(f"ocf:{PROVIDER}:{name}, written by `pacemail agents install`; do not edit.",
                  f"from pacemail.agents.{name} import AGENT\nAGENT.main()\n", python)


def script(comment: str, body: str, python: str | None = None) -> str:
    """An executable that runs ``body`` with this pacemail, starting as fast as Python can.

    ``-IS`` (one #! argument): no user site, no PYTHON* variables, no cwd on the path, and no
    ``site`` (its .pth processing, the editable-install finder among them,
    costs 15-30 ms per start: most of a monitor). The launcher adds back only
    what pacemail needs: the install's site-packages, and the ``pacemail``
    package mapped to where this install keeps it (an editable checkout maps
    ``pacemail`` to core/ and its subpackages to the repository's folders).
    """
    import pacemail

    python = python or default_python()
    if not python.startswith("/") or any(c.isspace() for c in python):
        raise ValueError(f"interpreter path {python!r} cannot be used in a #! line")
    init = os.path.abspath(pacemail.__file__)
    locations = [os.path.dirname(init)]
    for name in pacemail.SUBPACKAGES:   # found, not imported
        for path in importlib.util.find_spec(f"pacemail.{name}").submodule_search_locations:
            parent = os.path.dirname(os.path.abspath(path))
            if parent not in locations:
                locations.append(parent)
    return (f"#!{python} -IS\n"
            f"# {comment}\n"
            "import sys\n"
            f"sys.path.append({sysconfig.get_path('purelib')!r})\n"
            "pacemail = type(sys)('pacemail')\n"
            f"pacemail.__file__, pacemail.__path__ = {init!r}, {locations!r}\n"
            "sys.modules['pacemail'] = pacemail\n"
            "with open(pacemail.__file__) as f:\n"
            "    exec(compile(f.read(), pacemail.__file__, 'exec'), pacemail.__dict__)\n"
            f"{body}")


def launcher_target(path: Path) -> str | None:
    """The pacemail package (its ``__init__.py``) the launcher at ``path`` runs, or None
    when ``path`` is no launcher of ours."""
    try:
        for line in path.read_text(errors="replace").splitlines()[:12]:
            if line.startswith("pacemail.__file__, pacemail.__path__ = "):
                return ast.literal_eval(line.split(" = ", 1)[1])[0]
    except (OSError, ValueError, SyntaxError, IndexError, TypeError):
        return None
    return None


def status(root: Path, names=NAMES, python: str | None = None) -> list[Installed]:
    """What is installed under ``root`` for each agent, compared with what install would write."""
    found = []
    for name in names:
        path = agent_path(root, name)
        try:
            current = path.read_text() == launcher(name, python) and os.access(path, os.X_OK)
            state = "installed" if current else "outdated"
        except FileNotFoundError:
            state = "missing"
        found.append(Installed(name, load(name).version, path, state))
    return found


def install(root: Path, names=NAMES, python: str | None = None) -> list[Installed]:
    """Write every agent's launcher (mode 755) that is missing or outdated; returns the prior states."""
    before = status(root, names, python)
    for item in before:
        if item.state == "installed":
            continue
        item.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = item.path.with_name(f".{item.name}.tmp")
        tmp.write_text(launcher(item.name, python))
        tmp.chmod(0o755)
        os.replace(tmp, item.path)
    return before


def uninstall(root: Path, names=NAMES) -> list[Path]:
    """Remove the agents' launchers, and the provider folder once empty; returns the removed files."""
    removed = []
    for name in names:
        path = agent_path(root, name)
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    try:
        provider_dir(root).rmdir()
    except OSError:
        pass  # absent, or still holding something we did not write
    return removed
