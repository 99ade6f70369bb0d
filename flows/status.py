"""A ticket's status: the domain's names, with no database behind them (the CLI lists them
without loading the ORM; `models.tables` stores them)."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    OPEN = "open"            # waiting for a claim
    CLAIMED = "claimed"
    RESOLVED = "resolved"    # the handler says done; the reporter is asked to rate
    CLOSED = "closed"        # rated, or auto-closed after the rating window
    CANCELLED = "cancelled"  # withdrawn by the reporter
    VERIFYING = "verifying"  # resolved by the handler, waiting for 核查 (policy.verification)
    MERGED = "merged"        # another household's report of a ticket's problem (一事多报): `parent_id`
