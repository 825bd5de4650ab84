"""The short-lived cache of verified tokens: revocation after the cache time, bounds, no negative entries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun import freeze_time

from api.dependencies import ApiContext, Caller
from api.token_cache import TOKEN_CACHE_SECONDS, TokenCache
from callmeter.clock import utc_now
from callmeter.tokens import service as tokens
from tests.api.conftest import Api

NOW = "2026-12-08T09:00:00Z"


def _cache(api: Api) -> TokenCache[Caller]:
    context = api.client.app.state.context  # type: ignore[attr-defined]
    assert isinstance(context, ApiContext)
    return context.tokens


class TestTokenCache:
    def test_entry_expires_after_ttl(self) -> None:
        with freeze_time(NOW) as clock:
            cache: TokenCache[str] = TokenCache(ttl_seconds=5, max_entries=10)
            cache.put("hash-a", "balie", utc_now())
            clock.tick(timedelta(seconds=4.999))
            assert cache.get("hash-a") == "balie"
            clock.tick(timedelta(seconds=0.001))
            assert cache.get("hash-a") is None
            assert len(cache) == 0

    def test_ttl_counts_from_lookup_start(self) -> None:
        with freeze_time(NOW) as clock:
            cache: TokenCache[str] = TokenCache(ttl_seconds=5, max_entries=10)
            cache.put("hash-a", "balie", utc_now() - timedelta(seconds=4))
            assert cache.get("hash-a") == "balie"
            clock.tick(timedelta(seconds=1))
            assert cache.get("hash-a") is None

    def test_clock_going_back_expires_entry(self) -> None:
        with freeze_time(NOW) as clock:
            cache: TokenCache[str] = TokenCache(ttl_seconds=5, max_entries=10)
            cache.put("hash-a", "balie", utc_now())
            clock.tick(timedelta(seconds=-1))

            assert cache.get("hash-a") is None

    def test_size_is_bounded_and_oldest_goes_first(self) -> None:
        cache: TokenCache[int] = TokenCache(ttl_seconds=5, max_entries=3)
        for number in range(5):
            cache.put(f"hash-{number}", number, utc_now())

        assert len(cache) == 3
        assert cache.get("hash-0") is None
        assert cache.get("hash-1") is None
        assert [cache.get(f"hash-{number}") for number in (2, 3, 4)] == [2, 3, 4]

    def test_zero_ttl_stores_nothing(self) -> None:
        cache: TokenCache[str] = TokenCache(ttl_seconds=0, max_entries=3)
        cache.put("hash-a", "balie", utc_now())

        assert cache.get("hash-a") is None
        assert len(cache) == 0

    @pytest.mark.parametrize(("ttl", "size"), [(-1, 10), (5, 0)])
    def test_invalid_size_is_rejected(self, ttl: float, size: int) -> None:
        with pytest.raises(ValueError, match="invalid token cache size"):
            TokenCache(ttl_seconds=ttl, max_entries=size)


class TestCachedAuthentication:
    def test_revoked_token_works_until_ttl_then_401(self, api: Api) -> None:
        with freeze_time(NOW) as clock:
            assert api.client.get("/customers", headers=api.read).status_code == 200
            with api.database.write() as session:
                tokens.revoke(session, "balie-read")

            clock.tick(timedelta(seconds=TOKEN_CACHE_SECONDS - 1))
            assert api.client.get("/customers", headers=api.read).status_code == 200

            clock.tick(timedelta(seconds=1))
            response = api.client.get("/customers", headers=api.read)

        assert response.status_code == 401
        assert response.json()["detail"].startswith("Het token is ongeldig of ingetrokken")

    def test_unknown_token_is_never_cached(self, api: Api) -> None:
        for _ in range(3):
            response = api.client.get("/customers", headers={"Authorization": "Bearer cm_unknown"})
            assert response.status_code == 401

        assert len(_cache(api)) == 0

    def test_revoked_token_is_not_cached(self, api: Api) -> None:
        with api.database.write() as session:
            tokens.revoke(session, "balie-read")

        assert api.client.get("/customers", headers=api.read).status_code == 401
        assert len(_cache(api)) == 0

    def test_cached_read_token_still_gets_403_on_change(self, api: Api) -> None:
        assert api.client.get("/customers", headers=api.read).status_code == 200
        assert len(_cache(api)) == 1

        response = api.client.post("/customers", json={"helpdesk_id": "HD-2", "name": "X"}, headers=api.read)

        assert response.status_code == 403
        assert response.json()["code"] == "insufficient_scope"

    def test_cache_holds_hashes_not_tokens(self, api: Api) -> None:
        api.client.get("/customers", headers=api.read)

        cache = _cache(api)
        assert cache.get(tokens.hash_token(api.read_token)) is not None
        assert cache.get(api.read_token) is None
