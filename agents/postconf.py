"""Postfix main.cf values without running postconf on every monitor.

A value written literally in main.cf is read from the file itself. One that
is missing (the compiled-in default) or refers to other parameters ($name)
comes from ``postconf -c DIR -h NAME``, once per version of main.cf
(:mod:`pacemail.agents.confcache`).
"""

from __future__ import annotations

import os


def parse(text: str) -> dict[str, str]:
    """``name = value`` pairs of a main.cf (comments skipped, indented lines continue a value)."""
    values: dict[str, str] = {}
    name = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace():
            if name is not None:
                values[name] = (values[name] + " " + line.strip()).strip()
            continue
        key, sep, value = line.partition("=")
        name = key.strip() if sep else None
        if name:
            values[name] = value.strip()
    return values


def value(config_dir: str, name: str, postconf) -> str:
    """The effective value of ``name`` for the instance in ``config_dir``.

    ``postconf(argv)`` runs postconf and returns its stdout (the agent passes a
    bounded ``ctx.run``). OSError when main.cf cannot be read.
    """
    main_cf = os.path.join(config_dir, "main.cf")
    with open(main_cf, encoding="utf-8", errors="surrogateescape") as f:
        literal = parse(f.read()).get(name)
    if literal is not None and "$" not in literal:
        return literal
    from pacemail.agents.confcache import cached
    return cached(main_cf, f"postconf-{name}",
                  lambda: postconf(["postconf", "-c", config_dir, "-h", name]).strip())
