"""The speech model layer without the API: the offline model's files (assembled once,
atomically, hash-checked, surviving a crash mid-copy), audio decoding and its limits, and the
offline meeting minutes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from nodes.meeting import extract_report, render_markdown
from nodes.models.speech import AudioTooLongError, UndecodableAudioError, UnsupportedAudioError, check_format, decode
from nodes.models.speech.bundle import MANIFEST, PARTS, ModelFilesError, _packaged, ensure_model_dir, verify
from nodes.models.speech.local import LocalWhisper
from routeur.settings import Settings
from tests.support.api_support import ROOT
from tests.support.speech import GREETING, MEETING, convert, speak

EXPECTED_SIZE = sum(_packaged(distribution, name).size for distribution, name in PARTS)


def test_model_is_assembled_once_from_both_parts(tmp_path):
    target = ensure_model_dir(tmp_path / "whisper-base")
    manifest = json.loads((target / MANIFEST).read_text())
    assert (target / "model.bin").stat().st_size == manifest["model_bin_size"] == EXPECTED_SIZE
    assert {p.name for p in target.iterdir()} == {"model.bin", "config.json", "tokenizer.json", "vocabulary.json", MANIFEST}
    verify(target)
    built_at = (target / "model.bin").stat().st_mtime_ns
    assert ensure_model_dir(target) == target
    assert (target / "model.bin").stat().st_mtime_ns == built_at  # not rebuilt
    assert sorted(p.name for p in tmp_path.iterdir()) == [".whisper-base.lock", "whisper-base"]  # no temporary directory left


def test_processes_starting_together_build_the_model_once(tmp_path):
    target = tmp_path / "whisper-base"
    code = f"from pathlib import Path; from nodes.models.speech.bundle import ensure_model_dir, verify; verify(ensure_model_dir(Path({str(target)!r})))"
    processes = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.PIPE) for _ in range(3)]
    errors = [p.communicate(timeout=120)[1].decode() for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], errors
    assert sorted(p.name for p in tmp_path.iterdir()) == [".whisper-base.lock", "whisper-base"]


def test_damaged_model_is_detected_and_rebuilt(tmp_path):
    target = ensure_model_dir(tmp_path / "whisper-base")
    with open(target / "model.bin", "r+b") as model:  # same size, one byte changed
        model.seek(EXPECTED_SIZE // 2)
        byte = model.read(1)
        model.seek(EXPECTED_SIZE // 2)
        model.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelFilesError, match="damaged"):
        verify(target)
    with open(target / "model.bin", "r+b") as model:  # truncated: rebuilt by the next start
        model.truncate(1000)
    ensure_model_dir(target)
    verify(target)


def test_a_crash_mid_copy_leaves_no_half_model(tmp_path):
    target = tmp_path / "whisper-base"
    code = f"from pathlib import Path; from nodes.models.speech.bundle import ensure_model_dir; ensure_model_dir(Path({str(target)!r}))"
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    deadline = time.monotonic() + 60
    partial = None
    while time.monotonic() < deadline and partial is None:
        partial = next((p for p in tmp_path.glob(".whisper-base.tmp-*/model.bin") if 0 < p.stat().st_size < EXPECTED_SIZE), None)
        time.sleep(0.005)
    assert partial is not None, "the copy was never caught in progress"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    assert not target.exists()  # the model's place was never half-filled
    ensure_model_dir(target)
    verify(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".whisper-base.lock", "whisper-base"]  # the stale copy was cleaned up


def test_formats_and_decoding(tmp_path):
    assert check_format("Réunion.Du.Lundi.MP3") == "mp3"
    for bad in ("notes.txt", "audio", "archive.wav.zip"):
        with pytest.raises(UnsupportedAudioError):
            check_format(bad)
    wav = speak(GREETING, tmp_path / "g.wav")
    durations = {fmt: decode(convert(wav, tmp_path / f"g.{fmt}").read_bytes(), 60).duration for fmt in ("ogg", "flac")}
    durations["wav"] = decode(wav.read_bytes(), 60).duration
    assert all(abs(d - durations["wav"]) < 0.1 for d in durations.values()), durations
    samples = decode(wav.read_bytes(), 60).samples
    assert samples.dtype.name == "float32" and 0.05 < abs(samples).max() <= 1.0
    with pytest.raises(AudioTooLongError, match="2 seconds"):
        decode(wav.read_bytes(), 2)
    for garbage in (b"", b"RIFF" + os.urandom(2000), (ROOT / "README.md").read_bytes()):
        with pytest.raises(UndecodableAudioError):
            decode(garbage, 60)


def test_remote_provider_needs_a_base_url():
    with pytest.raises(ValueError, match="transcription_base_url"):
        Settings(_env_file=None, transcription_provider="openai-compatible")


def test_offline_minutes_french():
    transcript = (
        "Bonjour à tous, merci Alice. Nous avons décidé de migrer la base de données en janvier. "
        "Bob doit préparer le plan de migration avant vendredi. Claire va contacter le fournisseur. "
        "Les dépenses de serveurs ont augmenté. La migration des serveurs réduira les dépenses."
    )
    report = extract_report(transcript)
    assert report == extract_report(transcript)  # deterministic
    assert report.decisions == ["Nous avons décidé de migrer la base de données en janvier."]
    assert [(a.owner, a.due) for a in report.actions] == [("Bob", "avant vendredi"), ("Claire", None)]
    assert report.participants == ["Alice", "Bob", "Claire"]
    assert report.summary and report.summary.count(".") <= 3
    markdown = render_markdown(report, "fr", transcript)
    assert "- **Bob** : Bob doit préparer le plan de migration avant vendredi. (échéance : avant vendredi)" in markdown
    assert markdown.index("## Décisions") < markdown.index("## Actions") < markdown.index("## Participants") < markdown.index("## Transcription")


def test_offline_minutes_english_and_empty():
    report = extract_report("Alice: we agreed to ship on Monday. Thanks Bob. Bob and Carol will update the docs by Friday.")
    assert report.decisions == ["Alice: we agreed to ship on Monday."]
    assert [(a.owner, a.due) for a in report.actions] == [("Bob and Carol", "by Friday")]
    assert report.participants == ["Alice", "Bob", "Carol"]
    assert "# Meeting minutes" in render_markdown(report, "en")
    empty = extract_report("   ")
    assert (empty.summary, empty.decisions, empty.actions, empty.participants) == ("", [], [], [])
    assert "No speech detected." in render_markdown(empty, "en")


async def test_a_cancelled_transcription_stops_early_and_holds_its_slot_until_done(tmp_path, tmp_path_factory):
    long_meeting = " ".join([MEETING] * 12)  # about two minutes: VAD segments of up to 30 s, one batch each
    audio = decode(speak(long_meeting, tmp_path / "long.wav").read_bytes(), 600)
    transcriber = LocalWhisper(tmp_path_factory.getbasetemp() / "whisper-base", cpu_threads=2, batch_size=1)
    await transcriber.load()
    reached: list[float] = []
    task = asyncio.create_task(transcriber.transcribe(audio, data=b"", filename="long.wav", language="fr", progress=reached.append))
    while not reached:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert transcriber._slots.locked()  # the worker thread still runs: its slot is not given away
    for _ in range(600):
        if not transcriber._slots.locked():
            break
        await asyncio.sleep(0.1)
    assert not transcriber._slots.locked()
    assert max(reached) < audio.duration / 2  # stopped after the batch in progress, not at the end
