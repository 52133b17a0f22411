"""The throughput benchmark's smallest real run: the offline stack (demo corpus, local
embeddings, ``local-extractive``), all four systems up at once, two levels in two rounds."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.support.api_support import ROOT

SYSTEMS = ["in-process", "in-process + sessions", "ours HTTP", "langgraph dev"]
RATIO = r"\d+\.\d\dx \(\d+\.\d\d–\d+\.\d\d\)"


def table(output: str, title: str) -> list[str]:
    """The rows of the table whose title starts with ``title``: the lines after its header and
    rule that are as wide as the rule (every cell is padded to its column)."""
    lines = output[output.index(f"\n{title}") + 1 :].splitlines()
    width = len(lines[2])
    rows = []
    for line in lines[3:]:
        if len(line) != width:
            break
        rows.append(line)
    return rows


def test_offline_benchmark_measures_all_systems_in_rotated_rounds(tmp_path):
    data_dir = tmp_path / "data"
    command = [sys.executable, "-m", "benchmarks.bench_throughput", "--offline", "--data-dir", str(data_dir)]
    command += ["--levels", "1,2", "--rounds", "2", "--min-runs", "2", "--runs-per-client", "1", "--profile-runs", "2"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout

    idle = table(out, "Idle CPU")
    assert [row.split("  ")[0] for row in idle] == SYSTEMS
    assert all(row.rstrip().endswith("ok") for row in idle), "a system burns CPU while another is measured:\n" + "\n".join(idle)

    rates = table(out, "Throughput, completed streamed V2 runs, offline stack: demo corpus")
    assert [row.split()[0] for row in rates] == ["1", "2"]
    for row in rates:
        cells = re.split(r"\s{2,}", row.strip())
        assert cells[1] == "2 x 2"
        assert all(re.fullmatch(r"\d+\.\d \(\d+\)", cell) for cell in cells[2:6]), row
        assert cells[6] == "0/0/0/0"

    ratios = table(out, "Ratios, median of the 2 per-round ratios")
    assert len(ratios) == 2
    assert all(len(re.findall(RATIO, row)) == 4 for row in ratios), ratios
    assert "ours HTTP / in-process + sessions" in out and "the stateless graph is the reference" in out

    cpu = table(out, "CPU per turn (ms), 2 sequential turns each")
    assert any(row.startswith("= in-process turn") for row in cpu) and any(row.startswith("langgraph dev, server process") for row in cpu)
    client = next(row for row in cpu if row.startswith("ours over HTTP, the benchmark's client"))
    assert float(re.split(r"\s{2,}", client.strip())[1]) > 0  # the client's own CPU, read around the same turns

    # Every level's rounds start with a different system, and each round measures all four.
    rounds = [line for line in done.stderr.splitlines() if re.match(r"\s+\d+ clients, round", line)]
    assert len(rounds) == 4
    for line in rounds:
        measured = [part.rsplit(" ", 1)[0] for part in line.split(": ", 1)[1].split(", ")]
        assert sorted(measured) == sorted(SYSTEMS)
    firsts = [line.split(": ", 1)[1].split(", ")[0].rsplit(" ", 1)[0] for line in rounds]
    assert firsts == ["in-process", "in-process + sessions"] * 2

    # The copies of the data dir for langgraph dev and the in-process graphs are gone; the store stays.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    assert (data_dir / "edge").exists()
