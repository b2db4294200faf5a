"""``python -m voice_gateway.drain``: the Kubernetes preStop hook of the gateway container.

It asks the local gateway to stop admitting calls and blocks until live calls end (or the
drain timeout passes), so a rolling update never cuts a conversation mid-sentence. The
pod's terminationGracePeriodSeconds must exceed GATEWAY_DRAIN_TIMEOUT_SECS.
"""

from __future__ import annotations

import sys

import httpx

from voice_gateway.settings import GatewaySettings


def main() -> int:
    settings = GatewaySettings()
    token = settings.drain_secret
    headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}
    try:
        reply = httpx.post(
            f"http://127.0.0.1:{settings.port}/drain", headers=headers, timeout=settings.drain_timeout_secs + 5
        )
    except httpx.HTTPError as exc:
        print(f"drain request failed: {exc}", file=sys.stderr)
        return 1
    print(reply.text)
    return 0 if reply.is_success else 1


if __name__ == "__main__":
    sys.exit(main())
