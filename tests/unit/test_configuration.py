"""Configuration mistakes stop the start-up with the variable or file, the entry and the field
named: the models file, ROUTEUR_CLIENTS, any other setting, the default model."""

from __future__ import annotations

import json

import pytest

from nodes.models.catalog import ModelCatalog
from nodes.models.factory import ModelRegistry
from routeur.settings import ConfigurationError, Settings, load_settings

GOOD = {"name": "house", "base_url": "http://llm.local/v1"}


def _load(tmp_path, entries) -> ModelCatalog:
    path = tmp_path / "models.json"
    path.write_text(entries if isinstance(entries, str) else json.dumps(entries))
    return ModelCatalog.from_file(path)


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ([GOOD, {**GOOD, "name": "house-2", "remote_nam": "x"}], ["entry 1 ('house-2')", "field 'remote_nam': unknown field", "did you mean 'remote_name'"]),
        ([{**GOOD, "provider": "openai-compatble"}], ["entry 0 ('house')", "field 'provider'", "'openai-compatible'"]),
        ([{**GOOD, "structured_output": "json-schema"}], ["field 'structured_output'", "'json_schema'"]),
        ([{**GOOD, "timeout_s": "thirty"}], ["field 'timeout_s'", '"thirty"']),
        ([{**GOOD, "timeout_s": 0}], ["field 'timeout_s': must be positive"]),
        ([{**GOOD, "input_eur_per_mtok": -1}], ["field 'input_eur_per_mtok': must not be negative"]),
        ([{"name": "house"}], ["field 'base_url': required for an openai-compatible model"]),
        ([{**GOOD, "base_url": "llm.local/v1"}], ["field 'base_url': must be an http(s) URL"]),
        ([{"name": "p", "provider": "python", "factory": "nodes.models.testing:no_such"}], ["field 'factory'", "no callable 'no_such'"]),
        ([{"name": "p", "provider": "python", "factory": "no_such_module:f"}], ["field 'factory': cannot import 'no_such_module'"]),
        ([{**GOOD, "api_key_env": "K"}, GOOD], ["entry 1 ('house')", "declared twice"]),
        ([{"base_url": "http://llm.local/v1"}], ["entry 0", "field 'name': required"]),
        (["house"], ["entry 0", "expected an object"]),
        ({"name": "house"}, ["expected a JSON list"]),
        ('[{"name": "house",}]', ["invalid JSON at line 1"]),
    ],
)
def test_a_models_file_mistake_names_the_file_the_entry_and_the_field(tmp_path, entries, expected):
    with pytest.raises(ConfigurationError) as caught:
        _load(tmp_path, entries)
    message = str(caught.value)
    assert message.startswith(f"ROUTEUR_EXTRA_MODELS_FILE ({tmp_path / 'models.json'})")
    for part in expected:
        assert part in message


def test_a_valid_models_file_loads_with_its_defaults(tmp_path):
    catalog = _load(tmp_path, [GOOD, {"name": "paced", "provider": "python", "factory": "nodes.models.testing:paced_model", "options": {"tokens": 3}}])
    house = catalog.get("house")
    assert house.provider == "openai-compatible" and house.context_window == 32_000 and house.structured_output == "function_calling"
    assert catalog.get("paced").options == {"tokens": 3}


def test_a_missing_models_file_is_named(tmp_path):
    with pytest.raises(ConfigurationError, match="cannot read the file"):
        ModelCatalog.from_file(tmp_path / "nope.json")


def test_an_unknown_default_model_is_refused_with_the_known_ones(tmp_path):
    registry = ModelRegistry(Settings(_env_file=None, data_dir=tmp_path, default_model="gpt5"))
    with pytest.raises(ConfigurationError, match="ROUTEUR_DEFAULT_MODEL: 'gpt5' is not a known model; known: local-extractive, gpt-4o"):
        registry.check_default()


def test_client_and_setting_mistakes_name_the_variable_the_entry_and_the_field(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env here
    clients = [
        {"id": "a", "secert": "a-secret-0123456789", "projects": ["p"]},
        {"id": "b", "secret": "b-secret-0123456789", "projects": ["p"], "rate_limit_per_minut": 100},
    ]
    monkeypatch.setenv("ROUTEUR_CLIENTS", json.dumps(clients))
    monkeypatch.setenv("ROUTEUR_TOP_K", "five")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    message = str(caught.value)
    assert "ROUTEUR_CLIENTS: entry 0, field 'secret': Field required" in message
    assert "ROUTEUR_CLIENTS: entry 0, field 'secert': unknown field" in message
    assert "ROUTEUR_CLIENTS: entry 1, field 'rate_limit_per_minut': unknown field" in message
    assert "ROUTEUR_TOP_K: Input should be a valid integer" in message and "'five'" in message
    assert "0123456789" not in message  # secrets are never echoed


def test_clients_that_are_not_json_are_named(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ROUTEUR_CLIENTS", '[{"id": "a",')
    with pytest.raises(ConfigurationError, match="clients"):
        load_settings()


def test_a_misspelt_setting_name_is_refused_not_ignored(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("ROUTEUR_DEFAUL_MODEL=gpt-4o-mini\nROUTEUR_TOP_K=3\nPOSTGRES_PASSWORD=x\nROUTEUR_SOMETHING_ELSE=1\n")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    message = str(caught.value)
    assert "ROUTEUR_DEFAUL_MODEL in .env is not a setting (did you mean ROUTEUR_DEFAULT_MODEL?)" in message
    assert "ROUTEUR_SOMETHING_ELSE in .env is not a setting" in message and "POSTGRES_PASSWORD" not in message
    (tmp_path / ".env").write_text("ROUTEUR_TOP_K=3\n")
    monkeypatch.setenv("ROUTEUR_RATE_LIMIT_PER_MINTE", "100")
    monkeypatch.setenv("ROUTEUR_UNRELATED_TOOL_FLAG", "1")  # another tool's variable: not ours to judge
    with pytest.raises(ConfigurationError, match=r"^ROUTEUR_RATE_LIMIT_PER_MINTE is not a setting \(did you mean ROUTEUR_RATE_LIMIT_PER_MINUTE\?\)$"):
        load_settings()
    monkeypatch.delenv("ROUTEUR_RATE_LIMIT_PER_MINTE")
    assert load_settings().top_k == 3
