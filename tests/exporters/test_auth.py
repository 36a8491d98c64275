"""Basic auth file: hashes verified (pbkdf2 and bcrypt), malformed lines named, no plaintext."""

from __future__ import annotations

import base64
from pathlib import Path

import bcrypt
import pytest

from exporters.auth import BasicAuth, hash_password, verify_password


def header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_pbkdf2_hash_round_trip_and_salt() -> None:
    """A hash verifies its own password only, and two hashes of one password differ (salt)."""
    first, second = hash_password("s3cret", rounds=1000), hash_password("s3cret", rounds=1000)
    assert first != second
    assert verify_password("s3cret", first)
    assert verify_password("s3cret", second)
    assert not verify_password("s3cret ", first)
    assert "s3cret" not in first


def test_a_published_pbkdf2_vector_in_passlib_format_verifies() -> None:
    """PBKDF2-HMAC-SHA256("password", "salt", 4096 rounds) is the published test vector
    c5e478d5...; written the way passlib writes it (adapted base64, no padding), it verifies."""
    digest = bytes.fromhex("c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a")
    checksum = base64.b64encode(digest).decode().rstrip("=").replace("+", ".")
    hashed = f"$pbkdf2-sha256$4096$c2FsdA${checksum}"  # c2FsdA is "salt"
    assert verify_password("password", hashed)
    assert not verify_password("Password", hashed)


def test_file_with_pbkdf2_and_bcrypt_users(tmp_path: Path) -> None:
    """Both hash kinds in one file; wrong user, wrong password and junk headers fail."""
    users = tmp_path / "users"
    bcrypt_hash = bcrypt.hashpw(b"b-pass", bcrypt.gensalt(rounds=4)).decode()
    users.write_text(
        f"# comment\n\nprometheus:{hash_password('p-pass', rounds=1000)}\ngrafana:{bcrypt_hash}\n"
    )
    auth = BasicAuth.load(users)
    assert auth.check(header("prometheus", "p-pass"))
    assert auth.check(header("prometheus", "p-pass")), "second time from the cache"
    assert auth.check(header("grafana", "b-pass"))
    assert not auth.check(header("grafana", "p-pass"))
    assert not auth.check(header("nobody", "p-pass"))
    assert not auth.check(None)
    assert not auth.check("Bearer abc")
    assert not auth.check("Basic !!!not-base64!!!")
    assert not auth.check("Basic " + base64.b64encode(b"no-colon").decode())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "no USER:HASH lines"),
        ("justauser\n", ":1: expected USER:HASH"),
        ("u:plaintext-password\n", ":1: unsupported hash"),
        ("u:$pbkdf2-sha256$x$salt$hash\n", ":1: malformed"),
        (
            "# c\nu:$2b$04$abcdefghijklmnopqrstuu5SbM1aYNbnZo3g6XEUqqL9r3cbWyCa\nu:$2b$04$x\n",
            ":3: user 'u' appears twice",
        ),
    ],
)
def test_bad_files_name_the_line(tmp_path: Path, content: str, message: str) -> None:
    """A malformed auth file stops the exporter at start with file:line, not at scrape time."""
    users = tmp_path / "users"
    users.write_text(content)
    with pytest.raises(ValueError, match=message) as caught:
        BasicAuth.load(users)
    assert str(users) in str(caught.value)
