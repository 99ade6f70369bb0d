"""The log of `gridbot run`: one handler on stderr, every record passed through
`flows.credentials.mask_credentials` first (the bot's own lines, uvicorn's access log with its
query strings, httpx's request lines with the callback URL, tracebacks with a driver's message),
so no password, token or secret reaches it."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import TextIO

from flows.credentials import mask_credentials

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class CredentialsFilter(logging.Filter):
    """A handler's filter that masks credentials in each record's message and traceback, and
    the literal `secrets` given (a gateway token, a webhook secret, a database password),
    wherever they appear. It never drops a record."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if secret]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_credentials(message, self.secrets)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_credentials(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = mask_credentials(record.stack_info, self.secrets)
        return True


def configure_logging(secrets: Iterable[str | None] = (), *, level: int = logging.INFO,
                      stream: TextIO | None = None) -> logging.Handler:
    """Log records of `level` and above from every logger (the bot's, uvicorn's, httpx's…) to
    `stream` (default stderr) through one handler with a CredentialsFilter; an earlier handler
    of this function is replaced. Returns the handler."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "gridbot", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.gridbot = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(CredentialsFilter(secrets))
    root.addHandler(handler)
    root.setLevel(level)
    # The scheduler says "Running job … executed successfully" every minute: only its warnings.
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))
    return handler
