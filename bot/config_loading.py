"""The config as the commands load it: validated in full once, then kept in the user's cache
folder, so that the next command on the same file builds it back in a fifth of the time
(Liuyang's 33,000-node config: about 1 s to read and validate, 0.15 s to build back;
flows/config_cache.py says what is kept).

Where: `$XDG_CACHE_HOME/gridbot`, else `~/.cache/gridbot` (created for the user alone), one file
per config file; the folder keeps the `KEEP_ENTRIES` used last, none unused for `KEEP_UNUSED`
(a Liuyang-sized entry is 5 MB, and every config file read once, a scratch copy too, has one). `GRIDBOT_NO_CACHE=1` turns it off. An entry is used only when it was written
for the same bytes of the config file and the same code (`code_digest`); one that cannot be read,
is corrupt or is for other bytes is ignored and written again. A folder that cannot be written
only means validating every time, never an error. A config that fails validation is never kept.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import flows
from flows.config import ConfigError, GridConfig, config_data, parse_config, read_config_file
from flows.config_cache import cache_key, config_from, entry

__all__ = ["CACHE_DIR_NAME", "NO_CACHE_ENV", "cache_dir", "code_digest", "entry_file", "load_config"]

NO_CACHE_ENV = "GRIDBOT_NO_CACHE"
CACHE_DIR_NAME = "gridbot"
KEEP_ENTRIES = 16                    # config files kept, the ones used last
KEEP_UNUSED = 30 * 24 * 3600         # seconds an entry not used is kept


def cache_dir() -> Path | None:
    """The cache folder by the XDG convention, or None when $GRIDBOT_NO_CACHE is set (to
    anything but empty or 0) or there is no home folder to put it in."""
    if os.environ.get(NO_CACHE_ENV, "").strip() not in ("", "0"):
        return None
    base = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(base):   # the XDG spec: a relative one is invalid and ignored
        return Path(base) / CACHE_DIR_NAME
    try:
        return Path.home() / ".cache" / CACHE_DIR_NAME
    except (RuntimeError, KeyError):   # a container's user with no home nor $HOME
        return None


@cache
def code_digest() -> str:
    """A digest of what a validated config depends on beside the file: the `flows` package's
    code and data it reads (the models, the checks, the lexicon), this module, and the versions
    of Python, pydantic and yaml-rs. Another GridBot version changes it."""
    import pydantic
    import pydantic_core
    import yaml_rs

    digest = hashlib.sha256(f"{sys.version} {pydantic.VERSION} {pydantic_core.__version__} "
                            f"{getattr(yaml_rs, '__version__', '')}".encode())
    package = Path(flows.__file__).parent
    for source in [*sorted(package.glob("*.py")), *sorted(package.glob("*.yaml")), Path(__file__)]:
        digest.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
    return digest.hexdigest()


def entry_file(folder: Path, config_path: Path) -> Path:
    """The cache file of one config file: one per absolute path, rewritten when it changes."""
    name = hashlib.sha256(str(config_path.resolve()).encode()).hexdigest()[:20]
    return folder / f"config-{name}.json"


def load_config(path: str | Path, transport: bool = True, refresh: bool = False,
                frozen: bool = False, raw: bytes | None = None) -> GridConfig:
    """flows.config.load_config (same arguments, same ConfigError), through the cache: an entry
    for the file's bytes is built back; otherwise the file is validated in full and, when valid,
    kept. With `refresh` the file is validated in full whatever the cache holds (`gridbot config
    check`), then kept. What the transport lacks (`transport`) depends on the environment, so it
    is checked on every load, never kept. With `frozen`, for a config that lives as long as
    the process (a command's), its objects are frozen out of the garbage collector's sight
    before the collector is back (`gc.freeze`): its full passes need not walk them (a million
    for Liuyang's network), not even its first (~20 ms). `raw`: the file's bytes when they are
    read already (`gridbot run` hands its scan process the very bytes it loaded)."""
    path = Path(path)
    raw = read_config_file(path) if raw is None else raw
    folder = cache_dir()
    with _gc_paused(frozen):
        if folder is None:
            return parse_config(config_data(path, raw), transport)
        key, file = cache_key(raw, code_digest()), entry_file(folder, path)
        config = None if refresh else _read(file, key)
        if config is not None:
            problems = config.transport.problems() if transport else []
            if problems:
                raise ConfigError(problems)
            return config
        data = config_data(path, raw)
        config = parse_config(data, transport)  # raises on a bad config: nothing is kept
        kept = entry(data, config)
        if kept is not None:
            _write(file, key, kept)
        return config


@contextmanager
def _gc_paused(frozen: bool) -> Iterator[None]:
    # A million new objects, all kept: the collector's passes over them while they are being
    # made would find nothing and cost as much as the reading itself.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if frozen:
            gc.freeze()
        if enabled:
            gc.enable()


# A file: one line "<key> <SHA-256 of the rest>", then the entry as JSON.

def _read(file: Path, key: str) -> GridConfig | None:
    """The config kept in `file` under `key`; None when there is none, or it is for another key,
    unreadable or corrupt."""
    try:
        with file.open("rb") as stream:
            head = stream.readline().split()
            if len(head) != 2 or head[0].decode() != key:
                return None
            body = stream.read()
        if hashlib.sha256(body).hexdigest() != head[1].decode():
            return None
        config = config_from(json.loads(body))
        try:
            os.utime(file)   # used now: the last kept when the folder is pruned
        except OSError:
            pass
        return config
    except Exception:  # noqa: BLE001 - whatever is wrong with the entry, the file decides
        return None


def _write(file: Path, key: str, kept: dict) -> None:
    """Keep `kept` under `key`, replacing the file at once (a reader never sees half of it);
    a folder that cannot be written is left alone."""
    body = json.dumps(kept, ensure_ascii=False, separators=(",", ":")).encode()
    temporary = None
    try:
        file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=file.parent, prefix=".config-", suffix=".tmp")
        with os.fdopen(handle, "wb") as stream:   # mkstemp: readable by the user alone
            stream.write(f"{key} {hashlib.sha256(body).hexdigest()}\n".encode() + body)
        os.replace(temporary, file)
    except OSError:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        return
    _prune(file.parent, keep=file)


def _prune(folder: Path, keep: Path) -> None:
    """Delete the entries beyond the `KEEP_ENTRIES` used last and those unused for
    `KEEP_UNUSED` (by modification time, which a hit renews), never `keep`; what cannot be
    read or deleted is left."""
    try:
        entries = [(path.stat().st_mtime, path) for path in folder.glob("config-*.json")]
    except OSError:
        return
    entries.sort(reverse=True)
    now = time.time()
    for rank, (used, path) in enumerate(entries):
        if path != keep and (rank >= KEEP_ENTRIES or now - used > KEEP_UNUSED):
            try:
                path.unlink()
            except OSError:
                pass
