"""The chat transports: each an adapter behind the interface of `bot/transport.py`, keeping its
platform's quirks (mention formats, quotes, self-message echoes, limits, media) to itself and
handing the dispatcher a normalised `IncomingMessage`.

- `simulator`: in-process, scriptable; the demo and the tests.
- `wechaty_client`: the real `wechaty` client against a puppet service (gRPC).
- `webhook`: HTTP in, HTTP out, for any other bridge.
- `health`: per-transport delivery health, read by `/readyz` and `/api/transport`.
"""
