"""What an answer cost: tokens per model, time, energy and emissions (EcoLogits), euros, and
everyday equivalences.

No Litestar here: the CLI, notebooks and the evaluation runner measure answers the same way.
Unknown figures are ``None`` (JSON null), never guesses: a model EcoLogits or the price table
does not know contributes nothing, and a total with no known part is null.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ecologits.tracers.utils import llm_impacts
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import LLMResult

from nodes.models.catalog import CATALOG_NAME_KEY, ModelCatalog, ModelSpec

# EcoLogits logs a precision note on every call; keep its real errors only. (Its logger has its
# own class: it must exist, by importing ecologits, before its level is set.)
logging.getLogger("ecologits").setLevel(logging.ERROR)

# Equivalence factors, each with its source.
# ADEME Base Carbone via impactco2.fr, "Voiture thermique" (2024): 0.218 kgCO2e per km.
CAR_KG_CO2_PER_KM = 0.218
# ADEME Base Carbone via impactco2.fr, "TGV" (2024): 0.00293 kgCO2e per passenger-km.
TGV_KG_CO2_PER_KM = 0.00293
# US EPA Greenhouse Gas Equivalencies Calculator (2024): 8.22e-6 metric tons CO2 per smartphone
# charged, i.e. 0.00822 kg.
SMARTPHONE_KG_CO2_PER_CHARGE = 0.00822

# Below this generation time (first streamed chunk to the end of the answer) a tokens-per-second
# figure measures the event loop, not the model: an answer delivered in one burst would report
# hundreds of thousands of tokens per second. Such answers report null.
MIN_GENERATION_S = 0.05


@dataclass
class ModelUsage:
    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0
    seconds: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def as_dict(self) -> dict[str, int]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens, "total_tokens": self.total_tokens}


class UsageCollector(BaseCallbackHandler):
    """Usage and call time per model over every chat-model call of one answer (intent,
    evaluation, generation...). Providers report dated names (``gpt-4o-2024-08-06``): they are
    mapped back to catalog names so prices and EcoLogits look-ups work."""

    # Run in the caller's thread: LangChain otherwise hops to an executor on every token, and a
    # cancellation landing in that await abandons the provider's stream unclosed (langchain-core
    # does not close the inner generator), so the upstream call runs on after a disconnect.
    run_inline = True

    def __init__(self, catalog: ModelCatalog | None = None):
        self._catalog = catalog
        self._lock = threading.Lock()
        self._started: dict[UUID, tuple[float, str | None]] = {}
        self.by_model: dict[str, ModelUsage] = {}

    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: UUID, metadata: dict | None = None, **kwargs: Any) -> None:
        metadata = metadata or {}
        with self._lock:
            self._started[run_id] = (time.perf_counter(), metadata.get(CATALOG_NAME_KEY), metadata.get("ls_model_name"))

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            started, catalog_name, fallback_name = self._started.pop(run_id, (None, None, None))
            seconds = time.perf_counter() - started if started is not None else 0.0
            for generations in response.generations:
                for generation in generations:
                    message = getattr(generation, "message", None)
                    if message is None:
                        continue
                    raw = (message.response_metadata or {}).get("model_name") or fallback_name or "unknown"
                    usage = self.by_model.setdefault(catalog_name or self.catalog_name(raw), ModelUsage())
                    if message.usage_metadata:
                        usage.input_tokens += message.usage_metadata.get("input_tokens", 0)
                        usage.output_tokens += message.usage_metadata.get("output_tokens", 0)
                    usage.calls += 1
                    usage.seconds += seconds

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            self._started.pop(run_id, None)

    def catalog_name(self, raw: str) -> str:
        """The catalog name of a model the provider reports as ``raw``: itself, the one model
        whose ``remote_name`` it is, or the longest catalog name it starts with (a dated version)."""
        catalog = self._catalog or _default_catalog()
        if raw in catalog:
            return raw
        remote = [spec.name for spec in catalog if spec.remote_name == raw]
        if len(remote) == 1:
            return remote[0]
        prefixes = [name for name in catalog.names() if raw.startswith(name)]
        return max(prefixes, key=len) if prefixes else raw


def _default_catalog() -> ModelCatalog:
    """The built-in models, for callers that measure without a registry of their own."""
    return ModelCatalog()


class AnswerMetrics:
    """Clock and usage of one answer; ``finish()`` gives the ``metadata`` figures every answer reports."""

    def __init__(self, electricity_mix_zone: str = "WOR", catalog: ModelCatalog | None = None):
        self.zone = electricity_mix_zone
        self.catalog = catalog
        self.collector = UsageCollector(catalog)
        self.started = time.perf_counter()
        self.first_token_at: float | None = None

    def mark_first_token(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()

    def finish(self) -> dict[str, Any]:
        now = time.perf_counter()
        catalog = self.catalog or _default_catalog()
        by_model = dict(self.collector.by_model)
        totals = ModelUsage(
            input_tokens=sum(u.input_tokens for u in by_model.values()),
            output_tokens=sum(u.output_tokens for u in by_model.values()),
        )
        ttft = self.first_token_at - self.started if self.first_token_at is not None else None
        streaming = now - self.first_token_at if self.first_token_at is not None else 0.0
        impacts = {name: impacts_for(_spec(catalog, name), usage, self.zone) for name, usage in by_model.items()}
        energy = _sum_ranges(i["energy_kWh"] for i in impacts.values())
        emissions = _sum_ranges(i["emissions_kgCO2eq"] for i in impacts.values())
        water = _sum_ranges(i["water_liters"] for i in impacts.values())
        pricing = {name: price_for(_spec(catalog, name), usage) for name, usage in by_model.items()}
        known_costs = [p["total"] for p in pricing.values() if p is not None]
        figures: dict[str, Any] = {
            "usage": totals.as_dict(),
            "usage_by_model": {name: usage.as_dict() for name, usage in by_model.items()},
            "latency_s": round(now - self.started, 4),
            "time_to_first_token_s": round(ttft, 4) if ttft is not None else None,
            "tokens_per_second": (
                round(totals.output_tokens / streaming, 2) if streaming >= MIN_GENERATION_S and totals.output_tokens else None
            ),
            **_range_fields("energy_kWh", energy),
            **_range_fields("emissions_kgCO2eq", emissions),
            **_range_fields("emissions_gCO2eq", _scale(emissions, 1000.0)),
            "impacts_by_model": {
                name: {
                    "energy_kWh": _central(i["energy_kWh"]),
                    "emissions_kgCO2eq": _central(i["emissions_kgCO2eq"]),
                    "water_liters": _central(i["water_liters"]),
                }
                for name, i in impacts.items()
            },
            "electricity_mix_zone": self.zone,
            "pricing": {
                "currency": "EUR",
                "total_cost": round(sum(known_costs), 6) if known_costs else None,
                "by_model": pricing,
            },
            "equivalences": equivalences(_central(emissions), _central(water)),
        }
        return figures


def _spec(catalog: ModelCatalog, name: str) -> ModelSpec | None:
    return catalog.get(name) if name in catalog else None


Range = tuple[float, float] | None  # (min, max); a point value has min == max


def impacts_for(spec: ModelSpec | None, usage: ModelUsage, zone: str) -> dict[str, Range]:
    """EcoLogits' estimate for one model's share of the answer (output tokens, call time)."""
    empty: dict[str, Range] = {"energy_kWh": None, "emissions_kgCO2eq": None, "water_liters": None}
    if spec is not None and spec.energy_kwh_per_mtok is not None and not spec.ecologits_model:
        return published_impacts(spec.energy_kwh_per_mtok, usage, zone)
    if spec is None or not spec.ecologits_provider or not spec.ecologits_model or usage.output_tokens == 0:
        return empty
    result = llm_impacts(spec.ecologits_provider, spec.ecologits_model, usage.output_tokens, usage.seconds, zone)
    if result.errors:
        return empty
    return {
        "energy_kWh": _as_range(result.energy),
        "emissions_kgCO2eq": _as_range(result.gwp),
        "water_liters": _as_range(result.wcf),
    }


def published_impacts(kwh_per_mtok: float, usage: ModelUsage, zone: str) -> dict[str, Range]:
    """A provider's published energy per million tokens (output tokens, as EcoLogits counts),
    turned into emissions with the zone's electricity mix (EcoLogits' own table, kgCO2eq/kWh).
    Water is left unknown: the published figure says nothing of the data centre's cooling."""
    from ecologits.electricity_mix_repository import electricity_mixes

    energy = usage.output_tokens * kwh_per_mtok / 1_000_000
    mix = electricity_mixes.find_electricity_mix(zone)
    emissions = (energy * mix.gwp, energy * mix.gwp) if mix is not None else None
    return {"energy_kWh": (energy, energy), "emissions_kgCO2eq": emissions, "water_liters": None}


def price_for(spec: ModelSpec | None, usage: ModelUsage) -> dict[str, float] | None:
    if spec is None or spec.input_eur_per_mtok is None or spec.output_eur_per_mtok is None:
        return None
    cost_in = usage.input_tokens * spec.input_eur_per_mtok / 1_000_000
    cost_out = usage.output_tokens * spec.output_eur_per_mtok / 1_000_000
    return {"input": round(cost_in, 6), "output": round(cost_out, 6), "total": round(cost_in + cost_out, 6)}


def equivalences(emissions_kg: float | None, water_liters: float | None) -> dict[str, float | None]:
    def per(factor: float) -> float | None:
        return _sig(emissions_kg / factor) if emissions_kg is not None else None

    return {
        "water_liters": _sig(water_liters) if water_liters is not None else None,
        "car_km": per(CAR_KG_CO2_PER_KM),
        "tgv_km": per(TGV_KG_CO2_PER_KM),
        "smartphone_charges": per(SMARTPHONE_KG_CO2_PER_CHARGE),
    }


def _as_range(impact: Any) -> Range:
    value = getattr(impact, "value", None) if impact is not None else None
    if value is None:
        return None
    if hasattr(value, "min") and hasattr(value, "max"):
        return float(value.min), float(value.max)
    return float(value), float(value)


def _sum_ranges(ranges: Any) -> Range:
    known = [r for r in ranges if r is not None]
    if not known:
        return None
    return sum(r[0] for r in known), sum(r[1] for r in known)


def _scale(value: Range, factor: float) -> Range:
    return None if value is None else (value[0] * factor, value[1] * factor)


def _central(value: Range) -> float | None:
    return None if value is None else _sig((value[0] + value[1]) / 2)


def _range_fields(name: str, value: Range) -> dict[str, float | None]:
    if value is None:
        return {name: None, f"{name}_min": None, f"{name}_max": None}
    return {name: _central(value), f"{name}_min": _sig(value[0]), f"{name}_max": _sig(value[1])}


def _sig(value: float, digits: int = 4) -> float:
    """Keep significant digits: emissions of one answer are tiny numbers."""
    return float(f"{value:.{digits}g}")
