"""The model catalog: which chat models exist, who serves them, what they cost.

Prices are EUR per million tokens (converted from the providers' public USD price lists at
1 USD = 0.92 EUR, 2026-11); ``None`` means unknown, and unknown prices are reported as null,
never guessed. EcoLogits names let the metrics module look up energy and emissions.
"""

from __future__ import annotations

import difflib
import importlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, TypeAdapter, ValidationError

from routeur.settings import ConfigurationError

CATALOG_NAME_KEY = "routeur_model"
"""Run-metadata key under which a chat model carries its catalog name (set by the factory, read
by the metrics: providers report the name they serve, e.g. a ``remote_name``)."""

Provider = Literal["openai", "mistralai", "openai-compatible", "local", "python"]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    provider: Provider
    description: str
    context_window: int
    supports_streaming: bool = True
    input_eur_per_mtok: float | None = None
    output_eur_per_mtok: float | None = None
    ecologits_provider: str | None = None
    ecologits_model: str | None = None
    energy_kwh_per_mtok: float | None = None  # published kWh per million output tokens, when EcoLogits does not know the model
    base_url: str | None = None
    remote_name: str | None = None
    factory: str | None = None  # provider "python": "package.module:callable(spec, temperature)"
    options: dict[str, Any] = field(default_factory=dict)  # keyword options for that factory
    timeout_s: float | None = None  # per model; defaults to settings.model_timeout_s
    max_retries: int | None = None  # retries happen before the first token only
    api_key_env: str | None = None
    structured_output: Literal["function_calling", "json_schema", "json_mode"] = "function_calling"

    # A models-file entry with a field this class does not have is a typo, not an option to ignore.
    __pydantic_config__ = ConfigDict(extra="forbid")


BUILTIN_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="local-extractive",
        provider="local",
        description="Offline extractive answerer: cites the best passages, no key, no download",
        context_window=1_000_000,
        input_eur_per_mtok=0.0,
        output_eur_per_mtok=0.0,
    ),
    ModelSpec(
        name="gpt-4o",
        provider="openai",
        description="GPT-4 Omni - Most capable model",
        context_window=128_000,
        input_eur_per_mtok=2.30,
        output_eur_per_mtok=9.20,
        ecologits_provider="openai",
        ecologits_model="gpt-4o",
    ),
    ModelSpec(
        name="gpt-4o-mini",
        provider="openai",
        description="GPT-4o mini - Fast and affordable",
        context_window=128_000,
        input_eur_per_mtok=0.138,
        output_eur_per_mtok=0.552,
        ecologits_provider="openai",
        ecologits_model="gpt-4o-mini",
    ),
    ModelSpec(
        name="gpt-3.5-turbo",
        provider="openai",
        description="GPT-3.5 Turbo - Legacy fast model",
        context_window=16_385,
        input_eur_per_mtok=0.46,
        output_eur_per_mtok=1.38,
        ecologits_provider="openai",
        ecologits_model="gpt-3.5-turbo",
    ),
    ModelSpec(
        name="mistral-large-latest",
        provider="mistralai",
        description="Mistral Large - Top-tier reasoning",
        context_window=128_000,
        input_eur_per_mtok=1.84,
        output_eur_per_mtok=5.52,
        ecologits_provider="mistralai",
        ecologits_model="mistral-large-latest",
    ),
    ModelSpec(
        name="mistral-small-latest",
        provider="mistralai",
        description="Mistral Small - Efficient everyday model",
        context_window=32_000,
        input_eur_per_mtok=0.092,
        output_eur_per_mtok=0.276,
        ecologits_provider="mistralai",
        ecologits_model="mistral-small-latest",
    ),
)


class UnknownModelError(KeyError):
    def __init__(self, name: str, valid: list[str]):
        super().__init__(name)
        self.name = name
        self.valid = valid

    def __str__(self) -> str:
        return f"Unknown model '{self.name}'. Valid models: {', '.join(self.valid)}"


class ModelCatalog:
    """Name → spec. Built-ins plus OpenAI-compatible endpoints declared in a JSON file."""

    def __init__(self, specs: tuple[ModelSpec, ...] | list[ModelSpec] = BUILTIN_MODELS):
        self._specs: dict[str, ModelSpec] = {s.name: s for s in specs}

    @classmethod
    def from_file(cls, path: Path | None) -> ModelCatalog:
        """The built-ins plus the models file's entries; a file that cannot be used raises
        ``ConfigurationError`` naming the file, the entry and the field."""
        specs = list(BUILTIN_MODELS)
        if path is not None:
            specs += load_models_file(Path(path))
        return cls(specs)

    def add(self, spec: ModelSpec) -> None:
        self._specs[spec.name] = spec

    def remove(self, name: str) -> None:
        self._specs.pop(name, None)

    def get(self, name: str) -> ModelSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownModelError(name, self.names()) from None

    def names(self) -> list[str]:
        return list(self._specs)

    def __iter__(self):
        return iter(self._specs.values())

    def __contains__(self, name: object) -> bool:
        return name in self._specs


SETTING = "ROUTEUR_EXTRA_MODELS_FILE"
_POSITIVE = ("context_window", "timeout_s")
_NOT_NEGATIVE = ("max_retries", "input_eur_per_mtok", "output_eur_per_mtok", "energy_kwh_per_mtok")


def load_models_file(path: Path) -> list[ModelSpec]:
    """Every entry of a models file, checked as a whole before any is used: types and choices
    (``provider``, ``structured_output``), unknown fields (with the closest real one), what
    each provider needs (``base_url``, an importable ``factory``), signs, duplicate names."""
    where = f"{SETTING} ({path})"
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"{where}: cannot read the file: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{where}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(entries, list):
        raise ConfigurationError(f"{where}: expected a JSON list of models, got a {type(entries).__name__}")
    adapter = TypeAdapter(ModelSpec)
    seen: set[str] = set()
    specs = []
    for index, entry in enumerate(entries):
        label = f"{where}: entry {index}" + (f" ({entry['name']!r})" if isinstance(entry, dict) and isinstance(entry.get("name"), str) else "")
        if not isinstance(entry, dict):
            raise ConfigurationError(f"{label}: expected an object with at least a name, got {json.dumps(entry)[:80]}")
        entry = {"provider": "openai-compatible", "context_window": 32_000, **entry}
        entry.setdefault("description", f"OpenAI-compatible model at {entry.get('base_url')}")
        try:
            spec = adapter.validate_python(entry)
        except ValidationError as exc:
            raise ConfigurationError(f"{label}: " + "; ".join(_field_problem(error) for error in exc.errors())) from None
        if problem := _spec_problem(spec):
            raise ConfigurationError(f"{label}: {problem}")
        if spec.name in seen:
            raise ConfigurationError(f"{label}: field 'name': {spec.name!r} is declared twice in the file")
        seen.add(spec.name)
        specs.append(spec)
    return specs


def _field_problem(error: Any) -> str:
    location = ".".join(str(part) for part in error["loc"]) or "(entry)"
    if error["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
        known = [f.name for f in fields(ModelSpec)]
        close = difflib.get_close_matches(str(error["loc"][0]), known, n=1)
        return f"field {location!r}: unknown field" + (f" (did you mean {close[0]!r}?)" if close else f"; fields: {', '.join(known)}")
    if error["type"] == "missing_argument" or error["type"] == "missing":
        return f"field {location!r}: required"
    return f"field {location!r}: {error['msg']} (got {json.dumps(error.get('input'), default=str)[:80]})"


def _spec_problem(spec: ModelSpec) -> str | None:
    if not spec.name.strip():
        return "field 'name': must not be empty"
    for name in _POSITIVE:
        value = getattr(spec, name)
        if value is not None and value <= 0:
            return f"field {name!r}: must be positive (got {value})"
    for name in _NOT_NEGATIVE:
        value = getattr(spec, name)
        if value is not None and value < 0:
            return f"field {name!r}: must not be negative (got {value})"
    if spec.provider == "openai-compatible" and not spec.base_url:
        return "field 'base_url': required for an openai-compatible model (e.g. https://llm.example.com/v1)"
    if spec.base_url and not spec.base_url.startswith(("http://", "https://")):
        return f"field 'base_url': must be an http(s) URL (got {spec.base_url!r})"
    if spec.provider == "python":
        return _factory_problem(spec.factory)
    return None


def _factory_problem(factory: str | None) -> str | None:
    """A ``python`` model's factory must import now, not fail on the first question."""
    module_name, _, attribute = (factory or "").partition(":")
    if not module_name or not attribute:
        return f"field 'factory': expected 'package.module:callable' (got {factory!r})"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return f"field 'factory': cannot import {module_name!r} ({exc})"
    if not callable(getattr(module, attribute, None)):
        return f"field 'factory': {module_name!r} has no callable {attribute!r}"
    return None
