"""Answer metrics from real LangChain model calls: usage per model, prices, EcoLogits, equivalences."""

from __future__ import annotations

import pytest

from nodes.models import metrics as m
from nodes.models.catalog import BUILTIN_MODELS, ModelCatalog
from nodes.models.metrics import AnswerMetrics
from tests.support.fakes import Recorder, ScriptedChatModel

CATALOG = ModelCatalog(BUILTIN_MODELS)


def _model(name: str, input_tokens: int, output_tokens: int) -> ScriptedChatModel:
    """Streams ``output_tokens`` words, usage on the last chunk, as providers do."""
    return ScriptedChatModel(
        name_in_catalog=name, script=iter([" ".join(["mot"] * output_tokens)]), recorder=Recorder(), prompt_tokens=input_tokens
    )


async def _answer(*calls: tuple[str, int, int], zone: str = "WOR") -> dict:
    answer = AnswerMetrics(electricity_mix_zone=zone, catalog=CATALOG)
    for name, tokens_in, tokens_out in calls:
        model = _model(name, tokens_in, tokens_out)
        async for _ in model.astream("question", config={"callbacks": [answer.collector]}):
            answer.mark_first_token()
    return answer.finish()


async def test_usage_is_aggregated_per_catalog_model_and_in_total():
    figures = await _answer(("gpt-4o-2024-08-06", 100, 40), ("gpt-4o-2024-08-06", 50, 10), ("mistral-small-latest", 30, 20))
    assert figures["usage_by_model"] == {
        "gpt-4o": {"input_tokens": 150, "output_tokens": 50, "total_tokens": 200},
        "mistral-small-latest": {"input_tokens": 30, "output_tokens": 20, "total_tokens": 50},
    }
    assert figures["usage"] == {"input_tokens": 180, "output_tokens": 70, "total_tokens": 250}


async def test_pricing_matches_the_catalog_price_table():
    figures = await _answer(("gpt-4o", 1_000_000, 5_000))
    gpt4o = CATALOG.get("gpt-4o")
    expected = gpt4o.input_eur_per_mtok + 0.005 * gpt4o.output_eur_per_mtok
    assert figures["pricing"]["currency"] == "EUR"
    assert figures["pricing"]["by_model"]["gpt-4o"]["total"] == pytest.approx(expected)
    assert figures["pricing"]["total_cost"] == pytest.approx(expected)


async def test_ecologits_figures_are_positive_ranges_and_grams_are_kilograms_times_1000():
    figures = await _answer(("gpt-4o", 200, 300))
    for name in ("energy_kWh", "emissions_kgCO2eq", "emissions_gCO2eq"):
        assert 0 < figures[f"{name}_min"] <= figures[name] <= figures[f"{name}_max"]
    assert figures["emissions_gCO2eq"] == pytest.approx(1000 * figures["emissions_kgCO2eq"], rel=1e-3)
    assert figures["impacts_by_model"]["gpt-4o"]["water_liters"] > 0


async def test_electricity_zone_changes_emissions_not_energy():
    world = await _answer(("mistral-large-latest", 100, 200), zone="WOR")
    france = await _answer(("mistral-large-latest", 100, 200), zone="FRA")
    assert france["emissions_kgCO2eq"] < world["emissions_kgCO2eq"]


async def test_unknown_models_get_null_figures_never_invented_ones():
    figures = await _answer(("my-private-llm", 100, 100))
    assert figures["usage"]["total_tokens"] == 200
    assert figures["energy_kWh"] is None and figures["emissions_gCO2eq"] is None and figures["emissions_kgCO2eq_max"] is None
    assert figures["pricing"]["total_cost"] is None and figures["pricing"]["by_model"] == {"my-private-llm": None}
    assert figures["equivalences"] == {"water_liters": None, "car_km": None, "tgv_km": None, "smartphone_charges": None}


async def test_known_and_unknown_models_sum_only_what_is_known():
    both = await _answer(("gpt-4o", 100, 100), ("my-private-llm", 100, 100))
    alone = await _answer(("gpt-4o", 100, 100))
    assert both["pricing"]["total_cost"] == alone["pricing"]["total_cost"]
    assert both["emissions_kgCO2eq"] is not None


def test_equivalences_scale_linearly_with_emissions():
    one = m.equivalences(0.001, 0.5)
    two = m.equivalences(0.002, 0.5)
    for key in ("car_km", "tgv_km", "smartphone_charges"):
        assert two[key] == pytest.approx(2 * one[key], rel=1e-3)
    assert one["car_km"] == pytest.approx(0.001 / m.CAR_KG_CO2_PER_KM, rel=1e-3)
    assert one["tgv_km"] > one["car_km"]  # a km by TGV emits far less than by car
    assert one["water_liters"] == 0.5


async def test_timings_are_ordered():
    figures = await _answer(("gpt-4o", 10, 10))
    assert 0 <= figures["time_to_first_token_s"] <= figures["latency_s"]
    assert figures["tokens_per_second"] is None or figures["tokens_per_second"] > 0


def test_dated_names_map_to_the_longest_catalog_prefix():
    collector = m.UsageCollector(CATALOG)
    assert collector.catalog_name("gpt-4o-mini-2024-07-18") == "gpt-4o-mini"
    assert collector.catalog_name("gpt-4o-2024-08-06") == "gpt-4o"
    assert collector.catalog_name("claude-x") == "claude-x"


def test_tokens_per_second_is_null_when_the_generation_is_too_short_to_measure(monkeypatch):
    clock = iter([100.0, 100.5, 100.5001])  # start, first chunk, end: a burst of 0.1 ms
    monkeypatch.setattr(m.time, "perf_counter", lambda: next(clock))
    burst = AnswerMetrics(catalog=CATALOG)
    burst.collector.by_model["gpt-4o"] = m.ModelUsage(input_tokens=10, output_tokens=33)
    burst.mark_first_token()
    assert burst.finish()["tokens_per_second"] is None

    clock = iter([100.0, 100.5, 101.5])  # one second of generation
    paced = AnswerMetrics(catalog=CATALOG)
    paced.collector.by_model["gpt-4o"] = m.ModelUsage(input_tokens=10, output_tokens=33)
    paced.mark_first_token()
    assert paced.finish()["tokens_per_second"] == 33.0


def test_published_energy_per_mtok_gives_energy_and_emissions_with_the_zone_mix():
    from ecologits.electricity_mix_repository import electricity_mixes

    spec = ModelCatalog([*BUILTIN_MODELS]).get("local-extractive")
    published = type(spec)(name="llmaas", provider="openai-compatible", description="", context_window=1, energy_kwh_per_mtok=4.0)
    impacts = m.impacts_for(published, m.ModelUsage(output_tokens=500_000), "FRA")
    assert impacts["energy_kWh"] == (2.0, 2.0)
    gwp = electricity_mixes.find_electricity_mix("FRA").gwp
    assert impacts["emissions_kgCO2eq"] == pytest.approx((2.0 * gwp, 2.0 * gwp))
    assert impacts["water_liters"] is None
    unknown_zone = m.impacts_for(published, m.ModelUsage(output_tokens=500_000), "NOWHERE")
    assert unknown_zone["energy_kWh"] == (2.0, 2.0) and unknown_zone["emissions_kgCO2eq"] is None


@pytest.mark.parametrize("catalog_name", ["house-llm", "stub-ok"])
async def test_a_remote_named_model_is_priced_under_its_catalog_name(stub, settings_factory, catalog_name):
    """The endpoint reports usage under the name it serves (``remote_name``): the answer's
    usage and price are still the catalog entry's, with that entry's prices."""
    import json

    from nodes.models.factory import ModelRegistry

    settings = settings_factory("remote-name")
    models_file = settings.data_dir / "models.json"
    entry = {"name": catalog_name, "base_url": stub.base_url, "remote_name": "stub-ok", "input_eur_per_mtok": 1.0, "output_eur_per_mtok": 2.0}
    models_file.write_text(json.dumps([entry]))
    registry = ModelRegistry(settings.model_copy(update={"extra_models_file": models_file}))
    answer = AnswerMetrics(catalog=registry.catalog)
    async for _ in registry.chat(catalog_name, 0.0).astream("question", config={"callbacks": [answer.collector]}):
        answer.mark_first_token()
    figures = answer.finish()
    assert list(figures["usage_by_model"]) == [catalog_name]
    price = figures["pricing"]["by_model"][catalog_name]
    usage = figures["usage_by_model"][catalog_name]
    assert usage["input_tokens"] == 30 and usage["output_tokens"] > 0
    assert price["total"] == pytest.approx((30 * 1.0 + usage["output_tokens"] * 2.0) / 1_000_000)
    assert figures["pricing"]["total_cost"] == price["total"]


def test_a_reported_remote_name_maps_back_to_its_one_catalog_entry():
    from nodes.models.catalog import ModelSpec

    catalog = ModelCatalog([*BUILTIN_MODELS, ModelSpec("house-llm", "openai-compatible", "", 1000, remote_name="org/llm-7b")])
    collector = m.UsageCollector(catalog)
    assert collector.catalog_name("org/llm-7b") == "house-llm"
    assert collector.catalog_name("gpt-4o-2024-08-06") == "gpt-4o"
    twice = ModelCatalog([*catalog, ModelSpec("house-llm-eu", "openai-compatible", "", 1000, remote_name="org/llm-7b")])
    assert m.UsageCollector(twice).catalog_name("org/llm-7b") == "org/llm-7b"  # ambiguous: not guessed
