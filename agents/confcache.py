"""Answers of a configuration tool (postconf, doveconf) cached in /run.

Running the tool costs an exec on every monitor; its answer for one
configuration file changes only when that file does, so it is kept in
/run/pacemail keyed by the file's path, mtime and size (/run is cleared
at boot, and an edited file is read afresh).
"""

from __future__ import annotations

import os

CACHE_DIR = "/run/pacemail"


def cached(config_file: str, name: str, compute) -> str:
    """``compute()``'s answer for ``name`` of ``config_file``, from the cache while the file is unchanged.

    OSError when ``config_file`` does not exist.
    """
    import zlib
    st = os.stat(config_file)
    stamp = f"{st.st_mtime_ns} {st.st_size} {config_file}"
    key = zlib.crc32(config_file.encode("utf-8", "surrogateescape"))
    cache = f"{CACHE_DIR}/{name}-{key:08x}"
    try:
        with open(cache, encoding="utf-8", errors="surrogateescape") as f:
            seen, _, answer = f.read().partition("\n")
        if seen == stamp:
            return answer
    except OSError:
        pass
    answer = compute()
    os.makedirs(CACHE_DIR, exist_ok=True)
    scratch = f"{cache}.{os.getpid()}"
    with open(scratch, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(f"{stamp}\n{answer}")
    os.replace(scratch, cache)
    return answer
