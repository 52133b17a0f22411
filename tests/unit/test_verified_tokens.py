"""A token's signature is verified once per process; its expiry on every use; a bad token never
counts as verified."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from litestar.exceptions import NotAuthorizedException

from api import auth
from api.auth import JWT_ALGORITHM, VerifiedToken, verified_subject

pytestmark = pytest.mark.unit


def _token(secret: str, seconds: int = 600, sub: str = "alpha") -> str:
    return VerifiedToken(sub=sub, exp=datetime.now(UTC) + timedelta(seconds=seconds)).encode(secret, JWT_ALGORITHM)


@pytest.fixture
def verifications(monkeypatch) -> list[str]:
    calls: list[str] = []
    original = VerifiedToken.decode_payload.__func__

    def counted(cls, encoded_token, *args, **kwargs):
        calls.append(encoded_token)
        return original(cls, encoded_token, *args, **kwargs)

    monkeypatch.setattr(VerifiedToken, "decode_payload", classmethod(counted))
    return calls


def test_the_same_token_is_verified_once_and_answers_the_same(verifications):
    secret = secrets.token_urlsafe(48)
    encoded = _token(secret)
    first = VerifiedToken.decode(encoded, secret, JWT_ALGORITHM)
    second = VerifiedToken.decode(encoded, secret, JWT_ALGORITHM)
    assert (first.sub, second.sub, verified_subject(encoded, secret)) == ("alpha", "alpha", "alpha")
    assert verifications == [encoded]
    other = _token(secret, sub="beta")
    assert verified_subject(other, secret) == "beta"
    assert verifications == [encoded, other]


def test_a_remembered_token_still_expires(monkeypatch):
    secret = secrets.token_urlsafe(48)
    encoded = _token(secret, seconds=60)
    assert VerifiedToken.decode(encoded, secret, JWT_ALGORITHM).sub == "alpha"

    class Later(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.now(tz) + timedelta(seconds=120)

    monkeypatch.setattr(auth, "datetime", Later)
    with pytest.raises(NotAuthorizedException):
        VerifiedToken.decode(encoded, secret, JWT_ALGORITHM)
    assert verified_subject(encoded, secret) is None


def test_a_forged_token_is_refused_every_time_and_never_remembered(verifications):
    secret = secrets.token_urlsafe(48)
    forged = _token(secrets.token_urlsafe(48))
    for _ in range(2):
        with pytest.raises(NotAuthorizedException):
            VerifiedToken.decode(forged, secret, JWT_ALGORITHM)
        assert verified_subject(forged, secret) is None
    assert verifications == [forged] * 4
    assert verified_subject(forged + "x", secret) is None
