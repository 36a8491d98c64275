"""HTTP basic auth for /metrics from a file of ``user:hash`` lines; passwords never stored.

Accepted hashes:

- ``$pbkdf2-sha256$ROUNDS$SALT$HASH`` (passlib's format, salt and hash in its adapted
  base64): verified with the standard library. ``swarmlet-exporter --hash-password`` writes
  one.
- ``$2b$``/``$2a$``/``$2y$`` bcrypt hashes, the kind Prometheus' own web config files hold
  (``htpasswd -nbB``): verified with the optional ``bcrypt`` package, which the exporter
  asks for by name when such a line appears without it.

A correct password is remembered (as a SHA-256 of the Authorization header, in memory only)
so that Prometheus' scrape every few seconds does not pay for a slow hash each time. Wrong
passwords always pay the full hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

DEFAULT_ROUNDS = 100_000
_CACHE_SIZE = 16


class BasicAuth:
    def __init__(self, users: dict[str, str]) -> None:
        self._users = users
        self._verified: set[bytes] = set()

    @classmethod
    def load(cls, path: Path) -> BasicAuth:
        """Read the file; ValueError names the file and line of any problem."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
        users: dict[str, str] = {}
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, hashed = line.partition(":")
            where = f"{path}:{number}"
            if not sep or not user or not hashed:
                raise ValueError(f"{where}: expected USER:HASH")
            if user in users:
                raise ValueError(f"{where}: user {user!r} appears twice")
            _check_hash_format(hashed, where)
            users[user] = hashed
        if not users:
            raise ValueError(f"{path}: no USER:HASH lines")
        return cls(users)

    def check(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header value carries a valid user and password."""
        if not authorization or not authorization.startswith("Basic "):
            return False
        fingerprint = hashlib.sha256(authorization.encode("utf-8", "replace")).digest()
        if fingerprint in self._verified:
            return True
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return False
        user, sep, password = decoded.partition(":")
        hashed = self._users.get(user)
        if not sep or hashed is None or not verify_password(password, hashed):
            return False
        if len(self._verified) >= _CACHE_SIZE:
            self._verified.clear()
        self._verified.add(fingerprint)
        return True


def hash_password(password: str, rounds: int = DEFAULT_ROUNDS) -> str:
    """A ``$pbkdf2-sha256$`` hash of ``password`` with a random salt."""
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, rounds)
    return f"$pbkdf2-sha256${rounds}${_ab64(salt)}${_ab64(digest)}"


def verify_password(password: str, hashed: str) -> bool:
    if hashed.startswith("$pbkdf2-sha256$"):
        _, _, rounds, salt, digest = hashed.split("$")
        expected = _ab64_decode(digest)
        actual = hashlib.pbkdf2_hmac(
            "sha256", password.encode("utf-8"), _ab64_decode(salt), int(rounds), len(expected)
        )
        return hmac.compare_digest(actual, expected)
    import bcrypt  # noqa: PLC0415 -- optional, and only needed for bcrypt lines

    return bool(bcrypt.checkpw(password.encode("utf-8"), hashed.encode("ascii")))


def _check_hash_format(hashed: str, where: str) -> None:
    if hashed.startswith("$pbkdf2-sha256$"):
        parts = hashed.split("$")
        try:
            ok = len(parts) == 5 and int(parts[2]) > 0 and bool(_ab64_decode(parts[4]))
            _ab64_decode(parts[3])
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{where}: malformed $pbkdf2-sha256$ROUNDS$SALT$HASH hash")
        return
    if hashed.startswith(("$2b$", "$2a$", "$2y$")):
        try:
            import bcrypt  # noqa: F401, PLC0415 -- checked here so a missing package fails at start
        except ImportError:
            raise ValueError(
                f"{where}: bcrypt hashes need the Python package bcrypt "
                "(pip install bcrypt), or use swarmlet-exporter --hash-password"
            ) from None
        return
    raise ValueError(
        f"{where}: unsupported hash (expected $pbkdf2-sha256$... from "
        "swarmlet-exporter --hash-password, or a $2b$ bcrypt hash)"
    )


def _ab64(data: bytes) -> str:
    """passlib's adapted base64: '.' instead of '+', no padding."""
    return base64.b64encode(data).decode("ascii").rstrip("=").replace("+", ".")


def _ab64_decode(text: str) -> bytes:
    padded = text.replace(".", "+") + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except ValueError as exc:
        raise ValueError(f"bad base64: {exc}") from None
