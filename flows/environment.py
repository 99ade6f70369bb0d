"""The secrets a deployment hands the bot: each from an environment variable, else from a file.

Secrets stay out of `config.yaml` (which is shown, copied and kept in version control): the
database URL with its password, the webhook's HMAC key, the wechaty token and the dashboard's
CSRF signing key. Each is read from the environment variable of its name, else from a file of that
name (any case) in the secrets folder, `$GRIDBOT_SECRETS_DIR` or `/run/secrets`, where Docker and
Kubernetes mount secrets (pydantic-settings reads both).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

__all__ = ["DATABASE_URL_ENV", "CSRF_SECRET_ENV", "SECRETS_DIR_ENV", "DEFAULT_SECRETS_DIR",
           "SecretError", "WEBHOOK_SECRET_ENV", "WECHATY_TOKEN_ENV", "secret"]

DATABASE_URL_ENV = "GRIDBOT_DATABASE_URL"
WEBHOOK_SECRET_ENV = "GRIDBOT_WEBHOOK_SECRET"
WECHATY_TOKEN_ENV = "WECHATY_PUPPET_SERVICE_TOKEN"
CSRF_SECRET_ENV = "GRIDBOT_CSRF_SECRET"
SECRETS_DIR_ENV = "GRIDBOT_SECRETS_DIR"
DEFAULT_SECRETS_DIR = "/run/secrets"


_NAMES = frozenset(name.lower() for name in (DATABASE_URL_ENV, WEBHOOK_SECRET_ENV,
                                               WECHATY_TOKEN_ENV, CSRF_SECRET_ENV))


class SecretError(ValueError):
    """A secret file that is there but cannot be read: not UTF-8 text, a link to nothing, a
    folder. Its message names the file, in one line."""


@cache
def _reader(field: str) -> type:
    # Built at the first secret read from a file: a variable set in the environment, as most
    # deployments and every command line pass them, needs no pydantic-settings (15 ms). One
    # field each: a file of another secret that cannot be read is no matter here.
    from pydantic import create_model
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class _Secrets(BaseSettings):
        # The field's name is the variable's; a file in the secrets folder may be named so too.
        model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

        @classmethod
        def settings_customise_sources(cls, settings_cls, init_settings, env_settings,
                                       dotenv_settings, file_secret_settings):
            # The environment is read by `secret` itself (a blank variable means "not set").
            return (init_settings, file_secret_settings)

    return create_model(f"Secret_{field}", __base__=_Secrets, **{field: (str | None, None)})


def secret(name: str) -> str | None:
    """The secret `name` (one of the *_ENV names above): the environment variable if set and not
    blank, else the content of the file `name` in the secrets folder (surrounding whitespace and
    the final newline removed), else None. Raises KeyError for a name that is not one of them,
    SecretError for a file of that name that cannot be read.
    """
    field = name.lower()
    if field not in _NAMES:
        raise KeyError(name)
    value = os.environ.get(name)
    if value and value.strip():
        return value
    folder = Path(os.environ.get(SECRETS_DIR_ENV) or DEFAULT_SECRETS_DIR)
    if not folder.is_dir():
        return None   # outside Docker there is usually no such folder: nothing to read
    try:
        found = getattr(_reader(field)(_secrets_dir=folder), field)
    except Exception as error:  # noqa: BLE001 - pydantic-settings wraps what went wrong, or not
        causes = [error]
        while causes[-1].__cause__ is not None or causes[-1].__context__ is not None:
            causes.append(causes[-1].__cause__ or causes[-1].__context__)
        why = ("not UTF-8 text" if any(isinstance(c, UnicodeDecodeError) for c in causes)
               else " ".join(str(causes[-1]).split()) or type(causes[-1]).__name__)
        raise SecretError(f"cannot read the secret {name} from {folder}: {why}") from None
    return found.strip() or None if found else None
