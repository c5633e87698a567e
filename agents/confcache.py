"""Answers of a configuration tool (postconf, doveconf) cached in /run.

Running the tool costs an exec on every monitor; its answer for one
configuration file changes only when that file does, so it is kept in
the agents' run folder (/run/pacemail, see
:func:`pacemail.agents.ocf.run_dir`) keyed by the file's path, mtime and
size (the folder is cleared at boot, and an edited file is read afresh).
"""

from __future__ import annotations

import os

from pacemail.agents.ocf import run_dir

CACHE_DIR = "pacemail"  # in ocf.run_dir


def cached(config_file: str, name: str, compute) -> str:
    """``compute()``'s answer for ``name`` of ``config_file``, from the cache while the file is unchanged.

    OSError when ``config_file`` does not exist.
    """
    import zlib
    st = os.stat(config_file)
    stamp = f"{st.st_mtime_ns} {st.st_size} {config_file}"
    key = zlib.crc32(config_file.encode("utf-8", "surrogateescape"))
    folder = run_dir(CACHE_DIR)
    cache = f"{folder}/{name}-{key:08x}"
    try:
        with open(cache, encoding="utf-8", errors="surrogateescape") as f:
            seen, _, answer = f.read().partition("\n")
        if seen == stamp:
            return answer
    except OSError:
        pass
    answer = compute()
    os.makedirs(folder, exist_ok=True)
    scratch = f"{cache}.{os.getpid()}"
    with open(scratch, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(f"{stamp}\n{answer}")
    os.replace(scratch, cache)
    return answer
