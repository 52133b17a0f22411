"""The model catalog: which chat models exist, who serves them, what they cost.

Prices are EUR per million tokens (converted from the providers' public USD price lists at
1 USD = 0.92 EUR, 2026-11); ``None`` means unknown, and unknown prices are reported as null,
never guessed. EcoLogits names let the metrics module look up energy and emissions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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
        specs = list(BUILTIN_MODELS)
        if path is not None:
            for entry in json.loads(Path(path).read_text(encoding="utf-8")):
                entry.setdefault("provider", "openai-compatible")
                entry.setdefault("description", f"OpenAI-compatible model at {entry.get('base_url')}")
                entry.setdefault("context_window", 32_000)
                specs.append(ModelSpec(**entry))
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
