"""``.env.example`` documents every setting and stays what ``python -m routeur.envdoc`` prints."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

from nodes.models.catalog import ModelSpec
from routeur.envdoc import env_names, render
from routeur.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / ".env.example"


def test_env_example_is_the_generated_text():
    generated = subprocess.run(
        [sys.executable, "-m", "routeur.envdoc"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert generated == render()
    assert EXAMPLE.read_text(encoding="utf-8") == generated, "run: python -m routeur.envdoc > .env.example"


def test_every_setting_is_described_and_listed():
    undescribed = [name for name, field in Settings.model_fields.items() if not (field.description or "").strip()]
    assert undescribed == []
    listed = set(re.findall(r"^# (ROUTEUR_[A-Z0-9_]+)=", EXAMPLE.read_text(encoding="utf-8"), flags=re.M))
    assert listed == env_names(Settings)


def test_uncommented_example_reads_back_as_the_defaults(tmp_path, monkeypatch):
    """Each line's value is written the way pydantic-settings parses it (JSON lists quoted...)."""
    for name in env_names(Settings):
        monkeypatch.delenv(name, raising=False)
    lines = [line[2:] for line in EXAMPLE.read_text(encoding="utf-8").splitlines() if re.match(r"# ROUTEUR_[A-Z0-9_]+=.", line)]
    assert len(lines) > 20
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert Settings(_env_file=env_file) == Settings(_env_file=None)
    changed = env_file.read_text().replace("ROUTEUR_DEV_PROJECTS='[\"default\"]'", "ROUTEUR_DEV_PROJECTS='[\"a\", \"b\"]'")
    env_file.write_text(changed, encoding="utf-8")
    assert Settings(_env_file=env_file).dev_projects == ["a", "b"]


def test_readme_configuration_names_every_models_file_field():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    missing = [f.name for f in dataclasses.fields(ModelSpec) if f"`{f.name}`" not in section]
    assert missing == []
    assert ".env.example" in section
