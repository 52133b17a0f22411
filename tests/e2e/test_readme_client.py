"""The README's Python client example, run as pasted against ``routeur serve`` on the demo corpus
(only its server address changes, to the test server's port)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.support.api_support import ROOT, ServerProcess, ingest_demo

README_URL = 'URL = "http://127.0.0.1:7860"'


def readme_client_example() -> str:
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("\n## Python client", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the Python client section has one example"
    return blocks[0]


async def test_the_readme_client_example_runs_as_pasted(settings_factory, tmp_path):
    settings = settings_factory("readme-client")
    await ingest_demo(settings)
    code = readme_client_example()
    assert README_URL in code
    server = ServerProcess(settings.data_dir).start()
    try:
        script = tmp_path / "example.py"
        script.write_text(code.replace(README_URL, f'URL = "{server.url}"'), encoding="utf-8")
        env = {**os.environ, "TQDM_DISABLE": "1"}
        done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "7860" in out  # the first answer, from the demo corpus
    assert "notes.md" in out and "memo.md" in out
    assert out.count("→") == 2 and "Error" not in out
