"""Failed ``/auth/token`` attempts, counted per client id and per address in the rate-limit
store (Redis when configured, so every process sees the same counts). Past
``auth_failures_per_minute`` failures, either count answers 429 with ``Retry-After`` until its
window ends — even for the right secret, so guessing cannot go on in the background."""

from __future__ import annotations

from litestar.exceptions import TooManyRequestsException
from litestar.stores.base import Store

WINDOW_S = 60


class LoginThrottle:
    def __init__(self, store: Store, limit: int):
        self.store = store
        self.limit = limit

    @staticmethod
    def keys(client_id: str, address: str) -> list[str]:
        keys = [f"auth-fail:addr:{address}"]
        if client_id:
            keys.append(f"auth-fail:client:{client_id}")
        return keys

    async def check(self, keys: list[str]) -> None:
        for key in keys:
            count = int(await self.store.get(key) or 0)
            if count >= self.limit:
                retry = await self.store.expires_in(key) or WINDOW_S
                raise TooManyRequestsException(
                    "Too many failed token requests: retry later", headers={"Retry-After": str(max(retry, 1))}
                )

    async def failed(self, keys: list[str]) -> None:
        for key in keys:
            count = int(await self.store.get(key) or 0) + 1
            remaining = await self.store.expires_in(key) if count > 1 else None
            await self.store.set(key, str(count), expires_in=remaining or WINDOW_S)
