"""Importing the `wechaty` client (0.10.7) safely. Import wechaty's names from here, never directly:
what follows must run before `import wechaty`.

1. Python 3.11 refuses a dataclass field whose default is unhashable. `WechatyOptions` has
   `puppet_options: PuppetOptions = PuppetOptions()`, and `PuppetOptions` is an `eq=True` dataclass
   (so its `__hash__` is None): importing wechaty raises `ValueError: mutable default`. Giving the
   class the identity hash lets the import pass. (That default is also one object shared by
   every `WechatyOptions()`, and the client writes into it: always pass a fresh `PuppetOptions`.)
2. Importing wechaty creates its cache folder (`$CACHE_DIR`, else `./.wechaty` with a `job.db`)
   in the working directory. Unless `$CACHE_DIR` is set already, it goes to a folder under the
   system's temporary directory.
3. Its loggers print at INFO to stderr on their own (they do not propagate), and one of them
   prints the gateway token at every connection; unless `$WECHATY_LOG` says otherwise they
   print warnings only, and tokens are masked. Two warnings at every connection say only how
   GridBot uses the client (both endpoint and token given; no plugin with a web page): unless
   `$WECHATY_LOG` is set, they are left out.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import warnings

DEFAULT_CACHE_DIR = os.path.join(tempfile.gettempdir(), "gridbot-wechaty")

os.environ.setdefault("CACHE_DIR", DEFAULT_CACHE_DIR)
_QUIET = "WECHATY_LOG" not in os.environ
os.environ.setdefault("WECHATY_LOG", "warn")

from wechaty_puppet.schemas.puppet import PuppetOptions  # noqa: E402

PuppetOptions.__hash__ = object.__hash__  # type: ignore[method-assign,assignment]

with warnings.catch_warnings():
    # wechaty_puppet_service imports `telnetlib` (deprecated since 3.11) to probe the gateway.
    warnings.simplefilter("ignore", DeprecationWarning)
    import wechaty_puppet_service  # noqa: E402,F401  (wechaty loads it by name later)
    from wechaty import Wechaty, WechatyOptions  # noqa: E402
    from wechaty.user import Contact, Room, Tag  # noqa: E402
    from wechaty.utils.async_helper import SingleIdContainer  # noqa: E402
    from wechaty.config import AT_SEPARATOR  # noqa: E402  (U+2005, after each `@name`)
    from wechaty_puppet import MessageType  # noqa: E402

_BRACKETED = re.compile(r"<[^>]*>")


class _MaskTokens(logging.Filter):
    """`... token<puppet_xyz> ...` → `... token<***> ...` in the client's own log lines (they
    put each value in <>; in a line about tokens, every one is masked)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _QUIET and message.startswith("there are endpoint<"):
            return False  # "… and token<…>, and the endpoint will be used": always so here
        if "token" in message:
            record.msg, record.args = _BRACKETED.sub("<***>", message), None
        return True


for _name in ("PuppetService", "WechatyPuppetServiceConfig"):
    logging.getLogger(_name).addFilter(_MaskTokens())
if _QUIET:
    logging.getLogger("wechaty.plugin").setLevel(logging.ERROR)

__all__ = ["AT_SEPARATOR", "Contact", "MessageType", "PuppetOptions", "Room", "SingleIdContainer", "Tag",
           "Wechaty", "WechatyOptions"]
