"""One bounded MySQL conversation (PyMySQL adapter): connect, run one statement, close.

PyMySQL is imported on first use only: it costs about 30 ms (ssl, hashlib),
paid by a monitor that talks SQL and by no other action. Every phase
(connect, handshake, query) is bounded by ``timeout`` seconds, so a
stopped server (SIGSTOP) fails the call instead of hanging it.
"""

from __future__ import annotations


class SQLError(Exception):
    """The server could not be reached, refused the login, or failed the statement."""


def query(host: str, port: int, user: str, password: str, statement: str,
          timeout: float, args=None) -> list[tuple]:
    """The rows of ``statement`` (none for a command), or SQLError with one line saying why."""
    import pymysql
    t = max(0.1, timeout)
    try:
        conn = pymysql.connect(host=host, port=port, user=user, password=password,
                               connect_timeout=t, read_timeout=t, write_timeout=t,
                               autocommit=True)
    except pymysql.MySQLError as exc:
        raise SQLError(f"cannot log in to {host}:{port} as {user}: {_why(exc)}") from None
    try:
        with conn.cursor() as cursor:
            cursor.execute(statement, args)
            return list(cursor.fetchall())
    except pymysql.MySQLError as exc:
        raise SQLError(f"{host}:{port} failed {statement.split()[0]}: {_why(exc)}") from None
    finally:
        try:
            conn.close()
        except pymysql.MySQLError:
            pass


def _why(exc) -> str:
    args = getattr(exc, "args", ())
    text = str(args[1]) if len(args) > 1 else str(exc)
    return " ".join(text.split()) or type(exc).__name__
