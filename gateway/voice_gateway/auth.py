"""Who may call, and who may drain.

Callers present ``GATEWAY_AUTH_TOKEN`` as ``?token=`` (browsers cannot set WebSocket headers) or
as ``Authorization: Bearer <token>`` (the scheme is case-insensitive, RFC 7235; a bare token
without it is refused). ``POST /drain`` takes the gateway out of service until it restarts, so
it is an operator's action: it needs ``GATEWAY_DRAIN_TOKEN`` (the chart sets one that callers
never see), else the callers' token, and with neither configured it is accepted from loopback
only (the preStop hook runs inside the pod).
"""

from __future__ import annotations

import hmac
import ipaddress

from pydantic import SecretStr
from starlette.requests import HTTPConnection

from voice_gateway.settings import GatewaySettings


def bearer_token(connection: HTTPConnection) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if there is one."""
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _matches(offered: str | None, expected: SecretStr) -> bool:
    return offered is not None and hmac.compare_digest(offered.encode(), expected.get_secret_value().encode())


def _from_loopback(connection: HTTPConnection) -> bool:
    try:
        return connection.client is not None and ipaddress.ip_address(connection.client.host).is_loopback
    except ValueError:  # not an IP address (e.g. a test client's name)
        return False


def caller_authorized(connection: HTTPConnection, settings: GatewaySettings) -> bool:
    if settings.auth_token is None:
        return True
    return _matches(connection.query_params.get("token") or bearer_token(connection), settings.auth_token)


def drain_authorized(connection: HTTPConnection, settings: GatewaySettings) -> bool:
    expected = settings.drain_secret
    if expected is None:
        return _from_loopback(connection)
    return _matches(bearer_token(connection), expected)
