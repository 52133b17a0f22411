"""``/health/ready`` answers 200 or 503 with each check's reason, never a 500, whatever a check raises."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from api.app import create_app


async def test_readiness_is_503_with_a_reason_when_a_check_raises_anything(settings_factory, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    app = create_app(settings_factory("ready", default_model="gpt-4o-mini", openai_api_key=None))
    async with AsyncTestClient(app) as client:
        store = app.state.run_dependencies.store

        async def broken_ping() -> None:
            raise RuntimeError("disk on fire")

        store.ping = broken_ping
        response = await client.get("/health/ready")
        assert response.status_code == 503 and response.headers["x-request-id"]
        checks = response.json()["checks"]
        assert response.json()["status"] == "unavailable"
        assert checks["vector_store"] == {"ok": False, "detail": "vector store check failed: RuntimeError: disk on fire"}
        assert checks["model_provider"]["ok"] is False and "OPENAI_API_KEY" in checks["model_provider"]["detail"]
        del store.ping
        assert (await client.get("/health/ready")).json()["checks"]["vector_store"]["ok"] is True


async def test_readiness_is_200_when_every_check_passes(settings_factory):
    async with AsyncTestClient(create_app(settings_factory("ready-ok"))) as client:
        response = await client.get("/health/ready")
        assert response.status_code == 200 and response.json()["status"] == "ready"
