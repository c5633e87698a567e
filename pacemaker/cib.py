"""The CIB through ``cibadmin``: read it, patch it, and change one element at a time.

Whole reads and versioned patches serve the controller (:func:`push_patch`
refuses with :class:`Conflict` when the CIB moved since the patch's base). The
element calls serve the DRBD fence handlers: they change exactly their own
constraint and never replace a whole section, so a handler racing the
controller or another handler cannot undo its work.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from pacemail.pacemaker.runner import Runner, failed, local, output

TIMEOUT = 30.0
PUSH_TIMEOUT = 120.0

# cibadmin says CRM_EX_OLD (103) when the CIB is newer than the patch's source,
# CRM_EX_DIGEST (104) or "update diff failed" when it is older or does not fit.
_CONFLICT_CODES = (103, 104)
_NO_SUCH = 105      # CRM_EX_NOSUCH: nothing matches the xpath
_EXISTS = 108       # CRM_EX_EXISTS: --create of an id already in the CIB


class Conflict(Exception):
    """The CIB is no longer at the version a patch was computed against."""


def get(scope: str | None = None, *, run: Runner = local, timeout: float = TIMEOUT) -> bytes:
    """``cibadmin --query``: the running CIB, or only its section ``scope`` (``configuration``,
    ``constraints``, ...); raises CommandError when there is no cluster."""
    argv = ["cibadmin", "--query"] + (["--scope", scope] if scope else [])
    return output(run(argv, timeout=timeout))


def header(*, run: Runner = local, timeout: float = TIMEOUT) -> dict[str, str]:
    """The ``<cib>`` element's attributes alone (version, ``dc-uuid``, ``have-quorum``): a cheap read."""
    done = run(["cibadmin", "--query", "--xpath", "/cib", "--no-children"], timeout=timeout)
    return dict(ET.fromstring(output(done)).attrib)


def push_patch(patch: bytes, *, run: Runner = local, timeout: float = PUSH_TIMEOUT) -> None:
    """``cibadmin --patch``: apply a versioned patchset; :class:`Conflict` if the base moved."""
    done = run(["cibadmin", "--patch", "--xml-pipe"], timeout=timeout, check=False,
               input=patch.decode("utf-8", "surrogateescape"))
    if done.returncode in _CONFLICT_CODES or "update diff failed" in done.stderr:
        raise Conflict((done.stderr or done.stdout).strip())
    if done.returncode != 0:
        raise failed(done)


def element(xpath: str, *, run: Runner = local, timeout: float = TIMEOUT) -> bytes | None:
    """``cibadmin --query --xpath``: the matching element, None when there is none."""
    done = run(["cibadmin", "--query", "--xpath", xpath], timeout=timeout, check=False)
    if done.returncode == _NO_SUCH:
        return None
    if done.returncode != 0:
        raise failed(done)
    return output(done)


def create(scope: str, xml: str, *, run: Runner = local, timeout: float = TIMEOUT) -> bool:
    """``cibadmin --create``: add ``xml`` under ``scope``; False when its id already exists."""
    done = run(["cibadmin", "--create", "--scope", scope, "--xml-text", xml],
               timeout=timeout, check=False)
    if done.returncode == _EXISTS:
        return False
    if done.returncode != 0:
        raise failed(done)
    return True


def replace(xpath: str, xml: str, *, run: Runner = local, timeout: float = TIMEOUT) -> None:
    """``cibadmin --replace --xpath``: replace the one element at ``xpath`` with ``xml``."""
    run(["cibadmin", "--replace", "--xpath", xpath, "--xml-text", xml], timeout=timeout)


def delete(xpath: str, *, run: Runner = local, timeout: float = TIMEOUT) -> None:
    """``cibadmin --delete --xpath``: remove the element at ``xpath`` (none there is fine)."""
    run(["cibadmin", "--delete", "--xpath", xpath], timeout=timeout)
