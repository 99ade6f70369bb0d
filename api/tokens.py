"""Bearer tokens of the operators' API: created and revoked from the CLI, each scoped to one
node's subtree. The token itself is shown once; only its SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from flows.network import Network
from models.db import Database
from models.tables import ApiToken

PREFIX = "gb_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's name, and the node whose subtree it sees and acts in."""

    name: str
    node_id: str
    subtree: frozenset[str]

    top: bool = False   # a token of the network's top node

    @property
    def actor_id(self) -> str:
        return f"api:{self.name}"

    def sees(self, ticket) -> bool:
        """Whether the ticket is the caller's: its home node is in the token's subtree; at the
        network's top every ticket is (also one whose node a later config removed: the top
        answers for what nobody below can see; `models.subtrees.in_subtree`)."""
        return self.top or ticket.node_id in self.subtree


class TokenError(ValueError):
    """A token that cannot be created or revoked, with a one-line reason."""


def create_token(db: Database, network: Network, node_id: str, name: str, now: datetime) -> str:
    """A new token for `name`, scoped to `node_id`'s subtree; returns the token (shown once)."""
    if node_id not in network:
        raise TokenError(f"no node {node_id!r} in the network")
    if not name.strip():
        raise TokenError("the token needs a name (who holds it)")
    with db.session() as session:
        if session.exec(select(ApiToken).where(ApiToken.name == name.strip(),
                                               ApiToken.revoked_at.is_(None))).first():  # type: ignore[union-attr]
            raise TokenError(f"a token named {name.strip()!r} exists; revoke it first")
        token = PREFIX + secrets.token_urlsafe(32)
        session.add(ApiToken(name=name.strip(), node_id=node_id, token_hash=token_hash(token),
                             created_at=now))
    return token


def revoke_token(db: Database, name: str, now: datetime) -> int:
    """Revoke every live token of that name; returns how many."""
    with db.session() as session:
        live = session.exec(select(ApiToken).where(ApiToken.name == name,
                                                   ApiToken.revoked_at.is_(None))).all()  # type: ignore[union-attr]
        for row in live:
            row.revoked_at = now
        return len(live)


def principal_for(db: Database, network: Network, token: str) -> Principal | None:
    """The caller a token stands for; None for an unknown or revoked token, or one whose node
    left the network."""
    with db.session() as session:
        row = session.exec(select(ApiToken).where(ApiToken.token_hash == token_hash(token),
                                                  ApiToken.revoked_at.is_(None))).first()  # type: ignore[union-attr]
    if row is None or row.node_id not in network:
        return None
    return Principal(row.name, row.node_id, network.subtree_ids(row.node_id),
                     top=network.parent(row.node_id) is None)
