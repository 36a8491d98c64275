"""Keep secrets (join tokens, passwords) out of logs and result files.

Code that obtains a secret registers it once; every log record and every file a run writes
goes through ``scrub``, so a token cannot leak through an exception message or a raw sample.
"""

from __future__ import annotations

import logging
import threading

REDACTED = "<redacted>"
_lock = threading.Lock()
_secrets: set[str] = set()
# Shorter strings would redact ordinary words; real tokens are long.
_MIN_LENGTH = 8


def register_secret(value: str | None) -> None:
    if value and len(value) >= _MIN_LENGTH:
        with _lock:
            _secrets.add(value)


def scrub(text: str) -> str:
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class ScrubbingFilter(logging.Filter):
    """A logging filter that renders the message once and removes registered secrets from it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install_log_scrubbing() -> None:
    """Attach the filter to every handler of the root logger (call after logging is set up)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, ScrubbingFilter) for f in handler.filters):
            handler.addFilter(ScrubbingFilter())
