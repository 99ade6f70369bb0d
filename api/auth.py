"""Who is calling the API: a bearer token, scoped to its node's subtree.

Anything outside the caller's subtree answers 404, exactly as a ticket or node that does not
exist: a token from another branch cannot even learn that a ticket number is in use.
"""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.tokens import Principal, principal_for
from bot.runtime import Bot

_bearer = HTTPBearer(auto_error=False, description="A token from `gridbot token create`.")


def the_bot(request: Request) -> Bot:
    return request.app.state.bot


def caller(request: Request,
           credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "a bearer token is required (gridbot token create)",
                            headers={"WWW-Authenticate": "Bearer"})
    bot = the_bot(request)
    principal = principal_for(bot.db, bot.network, credentials.credentials)
    if principal is None:
        raise HTTPException(401, "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"})
    return principal


def not_found(what: str) -> HTTPException:
    return HTTPException(404, f"{what} not found")
