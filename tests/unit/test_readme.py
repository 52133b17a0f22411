"""The README documents every setting, and neither it, the docstrings nor the CLI help point at
documents outside the repository."""

from __future__ import annotations

import re

from routeur.envdoc import env_names
from tests.support.api_support import ROOT

INTERNAL = re.compile(r"\bseed \d|\bseeds?/|\bissue \d+|\bissue #\d+", re.IGNORECASE)


def test_every_setting_is_in_the_readme_configuration_section():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Configuration", 1)[1].split("\n## ", 1)[0]
    assert sorted(name for name in env_names() if name not in section) == []
    assert "ROUTEUR_DEFAULT_MODEL=gpt-4o-mini" in section  # how to answer with a real LLM


def test_no_internal_references_in_readme_code_or_help():
    files = [ROOT / "README.md", *[p for d in ("api", "graphs", "nodes", "retrievers", "routeur") for p in (ROOT / d).rglob("*.py")]]
    found = [f"{path.relative_to(ROOT)}: {match.group(0)}" for path in files for match in INTERNAL.finditer(path.read_text(encoding="utf-8"))]
    assert found == []
