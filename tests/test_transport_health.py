"""A failing transport is visible (issue 20, item 6): what a transport keeps of its tries, masked,
and when it stops being ready."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.transport_health import ConnectionHealth, TransportHealth, masked_url, scrubbed

FIVE_MINUTES = timedelta(minutes=5)


class Shifted:
    """The wall clock, moved ahead by `ahead` (to let minutes of failing pass at once)."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + self.ahead


# ---- masking --------------------------------------------------------------------------------

@pytest.mark.parametrize("url, shown", [
    ("https://user:p4ss@bridge.example.org/cb?token=abc&room=1&access_key=k&sig=s",
     "https://***@bridge.example.org/cb?token=***&room=1&access_key=***&sig=***"),
    ("https://tok3n@bridge.example.org:8443/cb", "https://***@bridge.example.org:8443/cb"),
    ("http://127.0.0.1:9000/callback?room=a%20b", "http://127.0.0.1:9000/callback?room=a+b"),
    ("http://127.0.0.1:9000/callback", "http://127.0.0.1:9000/callback"),
])
def test_credentials_in_a_url_are_masked(url, shown):
    assert masked_url(url) == shown


def test_an_error_message_is_scrubbed_of_urls_and_secrets():
    text = "ConnectError: https://u:pw@h.example.org/x?apikey=zz failed; token puppet_abc"
    assert scrubbed(text, ["puppet_abc"]) == \
        "ConnectError: https://***@h.example.org/x?apikey=*** failed; token ***"


# ---- readiness over time --------------------------------------------------------------------

def test_a_blip_leaves_the_transport_ready_a_long_failure_does_not():
    clock = Shifted()
    health = TransportHealth(target="https://bridge.example.org/cb", clock=clock)
    assert health.unready_reason(FIVE_MINUTES) is None and health.connected
    health.failed(RuntimeError("callback answered 503"))
    assert health.unready_reason(FIVE_MINUTES) is None and not health.connected
    clock.ahead = timedelta(minutes=4, seconds=59)
    health.failed(RuntimeError("callback answered 503"))
    assert health.unready_reason(FIVE_MINUTES) is None
    assert health.attempts_since_success == 2
    clock.ahead = timedelta(minutes=5)
    reason = health.unready_reason(FIVE_MINUTES)
    assert reason.startswith("failing for 5 min (since ") and "2 tries" in reason
    assert reason.endswith("last error: RuntimeError: callback answered 503)")
    health.succeeded()
    assert health.unready_reason(FIVE_MINUTES) is None and health.failing_since is None
    assert health.attempts_since_success == 0 and health.last_success_at is not None


def test_a_connection_is_not_ready_before_its_first_login_nor_long_after_losing_it():
    clock = Shifted()
    health = ConnectionHealth(target="10.0.0.5:8788", clock=clock)
    health.failed("gateway 10.0.0.5:8788 unreachable: ConnectionRefusedError()")
    assert health.unready_reason(FIVE_MINUTES).startswith("not connected yet (1 tries")
    health.succeeded()
    health.set_connected(True)                       # logged in
    health.failed("post 3: NOT_FOUND")               # a refused post: still connected, ready
    assert health.connected and health.unready_reason(FIVE_MINUTES) is None
    health.succeeded()
    health.failed("gateway 10.0.0.5:8788: event stream ended")
    health.set_connected(False)                      # lost: a blip for now
    assert health.unready_reason(FIVE_MINUTES) is None
    clock.ahead = timedelta(minutes=6)
    assert health.unready_reason(FIVE_MINUTES).startswith("failing for 6 min")
