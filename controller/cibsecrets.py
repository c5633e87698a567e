"""Fence device secrets on this node, where Pacemaker's CIB secrets read them.

The CIB holds only the placeholder ``lrm://``; the fencer and the executor
read the value from ``/var/lib/pacemaker/lrm/secrets/<resource>/<parameter>``
(trailing whitespace stripped, at most 255 bytes) and use it only when
``<parameter>.sign`` holds its MD5. ``cibsecret set`` writes these two files
and copies them to the other nodes over ssh (pssh, pdsh or ssh as root), and
takes the value on its command line (seen by ``ps``). pacemail does neither:
:func:`sync` (``pacemail fencing secrets DESCRIPTION``) runs on each
node, reads the root-only file the description names (each node has its own
copy, deployed like any root-only key) and writes that node's two files; the
controller daemon does the same every cycle on its node. Secrets of pacemail's
resources (``pm-*``) the description no longer has are removed; other
resources' secrets are not pacemail's and are never touched. No secret value
is ever returned, printed or logged: results name the resource, the parameter
and the source file only.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from pacemail.controller.cibxml import PREFIX, owned_id
from pacemail.controller.model import Description
from pacemail.controller.problems import Location, Problem, Severity

SECRETS_DIR = Path("/var/lib/pacemaker/lrm/secrets")
MAX_BYTES = 255   # Pacemaker's MAX_VALUE_LEN when it reads the value back


@dataclass(frozen=True)
class Secret:
    resource: str    # the CIB id, e.g. pm-fence-node1
    param: str
    source: str      # the root-only file holding the value


@dataclass(frozen=True)
class Installed:
    secret: Secret
    changed: bool


@dataclass(frozen=True)
class Synced:
    installed: list[Installed]
    removed: list[Secret]
    problems: list[Problem]


def wanted(d: Description) -> list[Secret]:
    return [Secret(owned_id(f.name), param, source)
            for f in d.fence_devices for param, source in f.secrets]


def read_source(path: str) -> str:
    """The secret in ``path``; ValueError (without the value) unless root owns it alone."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("not a regular file")
        if st.st_uid != 0 or st.st_mode & 0o077:
            raise ValueError(f"must be owned by root and readable by root only "
                             f"(owner uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o})")
        raw = f.read(MAX_BYTES + 2)
    try:
        value = raw.decode("utf-8").rstrip()
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    if not value:
        raise ValueError("the file is empty")
    if "\n" in value or len(value.encode()) > MAX_BYTES:
        raise ValueError(f"Pacemaker reads one line of at most {MAX_BYTES} bytes")
    return value


def signature(value: str) -> str:
    """What Pacemaker expects in ``<param>.sign``: the MD5 of the value, hex."""
    return hashlib.md5(value.encode()).hexdigest()


def install(secret: Secret, value: str, root: Path = SECRETS_DIR) -> bool:
    """Write the value and its signature (0600, in 0700 directories); False when already so."""
    directory = root / secret.resource
    target, sign = directory / secret.param, directory / f"{secret.param}.sign"
    if _read(target).rstrip() == value and _read(sign).strip() == signature(value):
        return False
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write(target, value + "\n")
    _write(sign, signature(value) + "\n")
    return True


def remove_stale(d: Description, root: Path = SECRETS_DIR) -> list[Secret]:
    """Delete the secret files of pacemail resources that ``d`` does not give that secret."""
    keep = {(s.resource, s.param) for s in wanted(d)}
    removed = []
    for directory in sorted(root.glob(PREFIX + "*")) if root.is_dir() else ():
        if directory.is_symlink() or not directory.is_dir():
            continue
        for value in sorted(directory.iterdir()):
            param = value.name.removesuffix(".sign")
            if (directory.name, param) in keep or param.startswith("."):
                continue
            value.unlink()
            if not value.name.endswith(".sign"):
                removed.append(Secret(directory.name, param, ""))
        if not any(directory.iterdir()):
            directory.rmdir()
    return removed


def install_all(d: Description, root: Path = SECRETS_DIR) -> tuple[list[Installed], list[Problem]]:
    """Every secret of ``d`` on this node; problems name the file, never the value."""
    done, problems = [], []
    for s in wanted(d):
        try:
            done.append(Installed(s, install(s, read_source(s.source), root)))
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            problems.append(Problem(Severity.ERROR, Location(s.source),
                                    f"secret {s.param} of {s.resource} not installed: {reason}"))
    return done, problems


def sync(d: Description, root: Path = SECRETS_DIR) -> Synced:
    """This node's secrets made what ``d`` says: the CLI and the daemon both run this."""
    installed, problems = install_all(d, root)
    return Synced(installed, remove_stale(d, root), problems)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return ""


def _write(path: Path, text: str) -> None:
    """Atomically, never readable by anyone but root."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
