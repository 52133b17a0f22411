"""Response headers set on every answer (``api.security``): nosniff always, CSP on HTML only."""

from __future__ import annotations

from api.security import CONTENT_SECURITY_POLICY, security_headers


async def _headers(content_type: str) -> dict[str, str]:
    message = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", content_type.encode())]}
    await security_headers(message, {})  # type: ignore[arg-type]
    return {k.decode().lower(): v.decode() for k, v in message["headers"]}


async def test_html_gets_a_strict_policy_and_json_only_nosniff():
    html = await _headers("text/html; charset=utf-8")
    assert html["content-security-policy"] == CONTENT_SECURITY_POLICY and "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert html["x-content-type-options"] == "nosniff" and html["x-frame-options"] == "DENY"
    json_headers = await _headers("application/json")
    assert json_headers["x-content-type-options"] == "nosniff" and "content-security-policy" not in json_headers
