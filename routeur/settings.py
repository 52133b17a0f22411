"""Typed configuration, read once from the environment (prefix ``ROUTEUR_``) and ``.env``.

Every layer (retrievers, nodes, API, CLI) reads the same ``Settings`` through ``get_settings()``;
tests build their own ``Settings`` and pass it explicitly instead of mutating globals.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ClientCredentials(BaseModel):
    """A client allowed to ask for tokens, and the projects its tokens may use."""

    id: str
    secret: SecretStr
    projects: list[str]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTEUR_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path("data")

    # Vector store: Qdrant's embedded engine on a path unless a server URL is given.
    qdrant_url: str | None = None
    qdrant_api_key: SecretStr | None = None
    edge_path: Path | None = Field(default=None, description="Embedded store; defaults to <data_dir>/edge")
    qdrant_path: Path | None = Field(
        default=None, description="Data of the previous embedded engine (read by `routeur reindex`); <data_dir>/qdrant"
    )
    collection: str | None = Field(default=None, description="Defaults to one per embedding model")

    # Embeddings: the local model shipped on PyPI, or a provider's API.
    embeddings_provider: Literal["local", "openai", "mistral"] = "local"
    embeddings_model: str | None = None
    chunk_size: int = 900
    chunk_overlap: int = 120

    # Chat models.
    default_model: str = "local-extractive"
    default_agent: Literal["V1", "V2"] = "V2"
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    mistral_api_key: SecretStr | None = None
    extra_models_file: Path | None = Field(
        default=None, description="JSON list of OpenAI-compatible models (name, base_url, api_key_env, ...)"
    )
    model_timeout_s: float = 60.0
    model_max_retries: int = 2

    # Answer metrics: EcoLogits electricity-mix zone (ISO 3166-1 alpha-3, or WOR for world average).
    electricity_mix_zone: str = "WOR"

    # API.
    host: str = "127.0.0.1"
    port: int = 7860
    title: str = "Routeur IA API"
    jwt_secret: SecretStr | None = None
    jwt_ttl_s: int = 3600
    clients: list[ClientCredentials] = Field(
        default=[], description='JSON list: [{"id": ..., "secret": ..., "projects": [...]}]'
    )
    dev_projects: list[str] = Field(default=["default"], description="Projects a development token may use")
    rate_limit_per_minute: int = 10
    trust_forwarded_for: bool = Field(default=False, description="Rate-limit by X-Forwarded-For (behind a proxy)")
    max_message_chars: int = 8000
    max_request_bytes: int = 25 * 1024 * 1024
    max_upload_bytes: int = 20 * 1024 * 1024
    page_size_max: int = 200
    cors_origins: list[str] = []
    sessions_path: Path | None = Field(default=None, description="Defaults to <data_dir>/sessions.sqlite")
    postgres_url: SecretStr | None = None

    # Retrieval defaults.
    top_k: int = 5
    max_search_rounds: int = 2

    # Evaluation: the LLM judge (default: a small model of a provider whose key is set, else none).
    eval_judge_model: str | None = None

    def resolved_edge_path(self) -> Path:
        return self.edge_path or self.data_dir / "edge"

    def resolved_qdrant_path(self) -> Path:
        return self.qdrant_path or self.data_dir / "qdrant"

    def resolved_sessions_path(self) -> Path:
        return self.sessions_path or self.data_dir / "sessions.sqlite"

    def production_problems(self) -> list[str]:
        """What forbids starting in production: secrets must never fall back to a default."""
        if self.environment != "production":
            return []
        problems = []
        if self.jwt_secret is None or len(self.jwt_secret.get_secret_value()) < 32:
            problems.append("ROUTEUR_JWT_SECRET must be set to at least 32 characters")
        if not self.clients:
            problems.append("ROUTEUR_CLIENTS must configure at least one client")
        if any(len(c.secret.get_secret_value()) < 16 for c in self.clients):
            problems.append("every client secret in ROUTEUR_CLIENTS needs 16+ characters")
        return problems

    def client(self, client_id: str) -> ClientCredentials | None:
        return next((c for c in self.clients if c.id == client_id), None)

    @model_validator(mode="after")
    def _check_sizes(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("chunk_overlap must be smaller than chunk_size")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
