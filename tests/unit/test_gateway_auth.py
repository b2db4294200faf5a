"""Who may call and who may drain: token parsing and the drain rule, on real Starlette connections."""

import pytest
from pydantic import SecretStr
from starlette.requests import Request

from voice_gateway.auth import bearer_token, caller_authorized, drain_authorized
from voice_gateway.settings import GatewaySettings


def request(headers: dict[str, str] | None = None, query: str = "", client: str = "203.0.113.7") -> Request:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/drain",
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": (client, 40000),
    }
    return Request(scope)


@pytest.mark.parametrize(
    "header, token",
    [
        ("Bearer abc", "abc"), ("bearer abc", "abc"), ("BEARER  abc ", "abc"),
        ("abc", None), ("Basic abc", None), ("Bearer", None), ("", None),
    ],
)
def test_bearer_scheme_is_case_insensitive_and_a_bare_token_is_not_a_bearer_token(header, token):
    assert bearer_token(request({"Authorization": header})) == token


def test_callers_need_the_token_by_query_or_bearer_header():
    settings = GatewaySettings(auth_token=SecretStr("s3cret"))
    assert caller_authorized(request(query="token=s3cret"), settings)
    assert caller_authorized(request({"Authorization": "bearer s3cret"}), settings)
    assert not caller_authorized(request({"Authorization": "s3cret"}), settings)
    assert not caller_authorized(request(query="token=wrong"), settings)
    assert caller_authorized(request(), GatewaySettings())


def test_drain_needs_the_drain_token_else_the_callers_token_else_loopback():
    open_gateway = GatewaySettings()
    assert drain_authorized(request(client="127.0.0.1"), open_gateway)
    assert drain_authorized(request(client="::1"), open_gateway)
    assert not drain_authorized(request(client="10.1.2.3"), open_gateway)

    with_token = GatewaySettings(auth_token=SecretStr("caller"))
    assert not drain_authorized(request(client="127.0.0.1"), with_token), "a token set: loopback alone is not enough"
    assert drain_authorized(request({"Authorization": "Bearer caller"}), with_token)

    with_drain_token = GatewaySettings(auth_token=SecretStr("caller"), drain_token=SecretStr("operator"))
    assert not drain_authorized(request({"Authorization": "Bearer caller"}), with_drain_token), "callers cannot drain"
    assert not drain_authorized(request(query="token=operator"), with_drain_token), "only as a header"
    assert drain_authorized(request({"Authorization": "Bearer operator"}), with_drain_token)
