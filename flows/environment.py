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
           "WEBHOOK_SECRET_ENV", "WECHATY_TOKEN_ENV", "secret"]

DATABASE_URL_ENV = "GRIDBOT_DATABASE_URL"
WEBHOOK_SECRET_ENV = "GRIDBOT_WEBHOOK_SECRET"
WECHATY_TOKEN_ENV = "WECHATY_PUPPET_SERVICE_TOKEN"
CSRF_SECRET_ENV = "GRIDBOT_CSRF_SECRET"
SECRETS_DIR_ENV = "GRIDBOT_SECRETS_DIR"
DEFAULT_SECRETS_DIR = "/run/secrets"


_NAMES = frozenset(name.lower() for name in (DATABASE_URL_ENV, WEBHOOK_SECRET_ENV,
                                               WECHATY_TOKEN_ENV, CSRF_SECRET_ENV))


@cache
def _secrets_model() -> type:
    # Defined at the first secret read from a file: a variable set in the environment, as
    # most deployments and every command line pass them, needs no pydantic-settings (15 ms).
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class _Secrets(BaseSettings):
        # Field names are the variables' names; a file in the secrets folder may be named so too.
        model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

        gridbot_database_url: str | None = None
        gridbot_webhook_secret: str | None = None
        wechaty_puppet_service_token: str | None = None
        gridbot_csrf_secret: str | None = None

        @classmethod
        def settings_customise_sources(cls, settings_cls, init_settings, env_settings,
                                       dotenv_settings, file_secret_settings):
            # The environment is read by `secret` itself (a blank variable means "not set").
            return (init_settings, file_secret_settings)

    return _Secrets


def secret(name: str) -> str | None:
    """The secret `name` (one of the *_ENV names above): the environment variable if set and not
    blank, else the content of the file `name` in the secrets folder (surrounding whitespace and
    the final newline removed), else None. Raises KeyError for a name that is not one of them.
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
    found = getattr(_secrets_model()(_secrets_dir=folder), field)
    return found.strip() or None if found else None
