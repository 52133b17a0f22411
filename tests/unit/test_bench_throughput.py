"""The throughput benchmark's comparison logic: rounds in rotated order, rates as medians over
rounds, ratios as the median of per-round ratios, p95 over every run, idle CPU per process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest

from benchmarks.bench_throughput import Level, Ratio, Rounds, System, idle_cpu, measure, measure_rounds, rotated, round_ratios


def test_ratios_are_the_median_of_per_round_ratios_with_their_spread():
    # The load halves both systems' rates in round 2: per round the ratio stays 2, whereas the
    # ratio of medians (60 / 20) or of means would report 3 and 2.4.
    ours = [100.0, 60.0, 50.0]
    other = [50.0, 20.0, 25.0]
    ratio = round_ratios(ours, other)
    assert ratio == Ratio(2.0, 2.0, 3.0)
    assert str(ratio) == "2.00x (2.00–3.00)"
    assert round_ratios([3.0, 1.0], [1.0, 1.0]) == Ratio(2.0, 1.0, 3.0)  # even count: mean of the middle two


@pytest.mark.parametrize("numerators, denominators", [([], []), ([1.0, 2.0], [1.0])])
def test_ratios_need_one_rate_per_round_on_each_side(numerators, denominators):
    with pytest.raises(ValueError, match="one rate per round"):
        round_ratios(numerators, denominators)


def test_each_system_leads_one_round_in_turn():
    names = ["a", "b", "c", "d"]
    orders = [rotated(names, index) for index in range(4)]
    assert [order[0] for order in orders] == names
    assert all(sorted(order) == names for order in orders)
    assert rotated(names, 5) == orders[1]


def test_rounds_report_median_rates_p95_over_all_runs_and_failures():
    measured = Rounds()
    measured.levels["x"][10] = [Level(10.0, [0.1] * 19, 0), Level(30.0, [0.2] * 19, 1), Level(20.0, [1.0] * 2, 2)]
    measured.levels["y"][10] = [Level(5.0, [0.5], 0), Level(10.0, [0.5], 0), Level(5.0, [0.5], 0)]
    assert measured.median_rate("x", 10) == 20.0
    assert measured.p95("x", 10) == 0.2  # 40 latencies: the two slow ones are the top 5 %, not a round's p95
    assert measured.failures("x", 10) == 3
    assert measured.ratio("x", "y", 10) == Ratio(3.0, 2.0, 4.0)


def test_measure_rounds_runs_every_system_once_per_round_in_rotated_order():
    calls: list[str] = []

    def system(name: str, fails: bool = False) -> System:
        async def run(question: str) -> bool:
            calls.append(name)
            await asyncio.sleep(0)
            return not fails

        return System(name, run)

    systems = [system("a"), system("b", fails=True), system("c")]
    measured = asyncio.run(measure_rounds(systems, [1, 3], {1: 2, 3: 6}, ["q"], rounds=3))
    # Level 1, two runs each: a b c, then b c a, then c a b.
    assert "".join(calls[:18]) == "aabbcc" + "bbccaa" + "ccaabb"
    assert len(calls) == 18 + 3 * 3 * 6
    for name in "abc":
        assert [len(batch.latencies) for batch in measured.levels[name][3]] == [6, 6, 6]
    assert measured.failures("b", 3) == 18 and measured.failures("a", 3) == 0


def test_measure_shares_the_runs_among_concurrent_clients():
    active = peak = 0

    async def run(question: str) -> bool:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1
        return True

    level = asyncio.run(measure(5, 20, run, ["q"]))
    assert peak == 5 and len(level.latencies) == 20 and level.failures == 0
    assert 50 < level.rate < 500  # 20 runs of 10 ms, 5 at a time: about 40 ms


def test_idle_cpu_tells_a_waiting_process_from_a_busy_one():
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # started
        readings = asyncio.run(idle_cpu([System("here", None), System("spinning", None, busy.pid)], seconds=1.0))
    finally:
        busy.kill()
        busy.wait()
    assert readings["spinning"] > 150  # ms of CPU per second: a spinning loop, even sharing two busy cores
    assert readings["here"] < 50
