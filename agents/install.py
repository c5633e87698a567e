"""Putting the agents where Pacemaker looks: ``$OCF_ROOT/resource.d/pacemail/<name>``.

Each installed file is a short launcher (:func:`script`) bound to the
interpreter pacemail is installed in, so an agent always runs the pacemail
its launcher was written by. The alert agent (``pacemail.agents.alert``) is
no resource agent (resource.d/ is what Pacemaker and pcs list as such), so
its launcher lives in the provider's own folder of the same root,
``$OCF_ROOT/lib/pacemail/pacemail-alert``: one root for everything pacemail
gives Pacemaker to run, installed, listed and removed together.
Every function is idempotent and returns what it found or did.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
import sysconfig
from pathlib import Path

from pacemail.agents import NAMES, alert, load

PROVIDER = "pacemail"
# Where Pacemaker itself looks (its build's OCF root): the path descriptions render.
OCF_ROOT = Path("/usr/lib/ocf")
ALERT = "pacemail-alert"


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
    return Path(environ.get("OCF_ROOT") or OCF_ROOT)


def provider_dir(root: Path) -> Path:
    return Path(root) / "resource.d" / PROVIDER


def agent_path(root: Path, name: str) -> Path:
    return provider_dir(root) / name


def alert_path(root: Path = OCF_ROOT) -> Path:
    """The alert agent's launcher under OCF root ``root``."""
    return Path(root) / "lib" / PROVIDER / ALERT


def alert_launcher(python: str | None = None) -> str:
    return script(f"{ALERT}, Pacemaker alert agent written by `pacemail agents install`; do not edit.",
                  "from pacemail.agents.alert import main\nsys.exit(main())\n", python)


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
    return [Installed(name, load(name).version, agent_path(root, name),
                      _state(agent_path(root, name), launcher(name, python)))
            for name in names]


def alert_status(root: Path, python: str | None = None) -> Installed:
    """The alert agent's launcher under ``root``, as :func:`status` sees an agent's."""
    return Installed(ALERT, alert.VERSION, alert_path(root), _state(alert_path(root),
                                                                   alert_launcher(python)))


def _state(path: Path, text: str) -> str:
    try:
        current = path.read_text() == text and os.access(path, os.X_OK)
    except FileNotFoundError:
        return "missing"
    return "installed" if current else "outdated"


def install(root: Path, names=NAMES, python: str | None = None) -> list[Installed]:
    """Write every agent's launcher (mode 755) that is missing or outdated; returns the prior states."""
    before = status(root, names, python)
    for item in before:
        _write(item, launcher(item.name, python))
    return before


def install_alert(root: Path, python: str | None = None) -> Installed:
    """Write the alert agent's launcher (mode 755) when missing or outdated; returns its prior state."""
    before = alert_status(root, python)
    _write(before, alert_launcher(python))
    return before


def _write(item: Installed, text: str) -> None:
    if item.state == "installed":
        return
    item.path.parent.mkdir(parents=True, exist_ok=True)
    tmp = item.path.with_name(f".{item.name}.tmp")
    tmp.write_text(text)
    tmp.chmod(0o755)
    os.replace(tmp, item.path)


def uninstall(root: Path, names=NAMES) -> list[Path]:
    """Remove the agents' launchers, and the provider folder once empty; returns the removed files."""
    removed = [path for path in (agent_path(root, n) for n in names) if _unlink(path)]
    _rmdir(provider_dir(root))
    return removed


def uninstall_alert(root: Path) -> list[Path]:
    """Remove the alert agent's launcher, and its folder once empty; returns what was removed."""
    removed = [alert_path(root)] if _unlink(alert_path(root)) else []
    _rmdir(alert_path(root).parent)
    return removed


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _rmdir(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # absent, or still holding something we did not write
