"""Postfix main.cf values without running postconf on every monitor.

A value written literally in main.cf is read from the file itself. One that
is missing (the compiled-in default) or refers to other parameters ($name)
comes from ``postconf -c DIR -h NAME``, once: the answer is cached in /run
keyed by the instance and main.cf's mtime and size, so an edited main.cf is read afresh.
"""

from __future__ import annotations

import os

CACHE_DIR = "/run/pacemail"


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


def _stamp(main_cf: str, config_dir: str) -> str:
    st = os.stat(main_cf)
    return f"{st.st_mtime_ns} {st.st_size} {config_dir}"


def _cache_file(config_dir: str, name: str) -> str:
    import zlib
    return f"{CACHE_DIR}/postconf-{zlib.crc32(config_dir.encode('utf-8', 'surrogateescape')):08x}-{name}"


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
    stamp, cache = _stamp(main_cf, config_dir), _cache_file(config_dir, name)
    try:
        with open(cache, encoding="utf-8", errors="surrogateescape") as f:
            seen, _, cached = f.read().partition("\n")
        if seen == stamp:
            return cached
    except OSError:
        pass
    answer = postconf(["postconf", "-c", config_dir, "-h", name]).strip()
    os.makedirs(CACHE_DIR, exist_ok=True)
    scratch = f"{cache}.{os.getpid()}"
    with open(scratch, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(f"{stamp}\n{answer}")
    os.replace(scratch, cache)
    return answer
