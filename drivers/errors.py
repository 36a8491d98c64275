"""The one exception type the CLI turns into a one-line error and a non-zero exit."""

from __future__ import annotations


class SwarmscopeError(Exception):
    """An error a person can act on: its message names the file, field or node at fault.

    The CLI prints ``swarmscope: error: <message>`` and exits with ``exit_code`` instead of
    showing a traceback. 2 means bad input (config, arguments); 1 means the run itself failed.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(SwarmscopeError):
    """A configuration, inventory or thresholds file is wrong."""

    exit_code = 2
