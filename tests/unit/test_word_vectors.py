"""French word vectors in the offline answerer: a sentence that answers in other words than the
question's moves up; without the vectors package the answerer falls back to shared words."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nodes.models.extractive import ExtractiveChatModel, extract_answer
from nodes.models.factory import ModelRegistry
from retrievers.word_vectors import WordVectors, load_word_vectors
from routeur.settings import Settings

PACKAGE = Settings.model_fields["word_vectors"].default
EXPORTS = Path(os.environ["ROUTEUR_WORD_VECTORS_DIR"])

QUESTION = "Comment supprimer un service sans interrompre le serveur ?"
WRONG = "Chaque service écrit son journal dans un répertoire dédié."
RIGHT = "On peut retirer un service à chaud : le démon continue de répondre pendant l'opération."
OTHER = "Un service s'arrête avec la commande stop."
PASSAGES = [(1, "Services", "Services", WRONG), (2, "Services", "Services", RIGHT), (3, "Services", "Services", OTHER)]


@pytest.fixture(scope="module")
def vectors() -> WordVectors:
    loaded = load_word_vectors(PACKAGE, EXPORTS)
    assert loaded is not None, f"the default word vectors ({PACKAGE}) must be installed"
    return loaded


def _first_bullet(answer: str) -> str:
    return next(line for line in answer.splitlines() if line.startswith("- "))


def test_a_paraphrase_comes_first_with_word_vectors(vectors):
    # Each sentence shares one word with the question ("service"): by shared words the first
    # passage wins; "retirer … à chaud … le démon continue" says "supprimer sans interrompre le
    # serveur" in other words.
    assert _first_bullet(extract_answer(QUESTION, PASSAGES)) == f"- {WRONG} [1]"
    assert _first_bullet(extract_answer(QUESTION, PASSAGES, vectors=vectors)) == f"- {RIGHT} [2]"


def test_coverage_is_full_for_the_same_words_and_lower_for_unrelated_ones(vectors):
    same, close, unrelated = vectors.coverage("supprimer le fichier", ["le fichier supprimer", "effacer le document", "la météo de demain"])
    assert same == pytest.approx(1.0)
    assert close > unrelated
    assert vectors.coverage("le la les", ["supprimer"]) == [0.0]


def test_the_answer_is_deterministic(vectors):
    answers = {extract_answer(QUESTION, PASSAGES, vectors=vectors) for _ in range(3)}
    assert len(answers) == 1


def test_without_the_package_the_answerer_uses_shared_words_only(caplog):
    assert load_word_vectors("", EXPORTS) is None
    assert load_word_vectors("no_such_vectors_package", EXPORTS) is None
    assert "no_such_vectors_package" in caplog.text


def test_the_registry_loads_the_vectors_once_and_gives_them_to_every_local_model(tmp_path):
    registry = ModelRegistry(Settings(_env_file=None, data_dir=tmp_path, word_vectors_dir=EXPORTS))
    first, second = registry.chat("local-extractive", 0.0), registry.chat("local-extractive", 0.0)
    assert isinstance(first, ExtractiveChatModel) and isinstance(second, ExtractiveChatModel)
    assert first.word_vectors is not None and first.word_vectors is second.word_vectors
    other = ModelRegistry(Settings(_env_file=None, data_dir=tmp_path / "other", word_vectors_dir=EXPORTS))
    assert other.chat("local-extractive", 0.0).word_vectors is first.word_vectors, "read once per process"
    disabled = ModelRegistry(Settings(_env_file=None, data_dir=tmp_path, word_vectors=""))
    assert disabled.chat("local-extractive", 0.0).word_vectors is None


def test_exported_once_then_read_without_spacy_or_torch(tmp_path, vectors):
    exported = load_word_vectors(PACKAGE, tmp_path)
    files = list(tmp_path.iterdir())
    assert [f.suffix for f in files] == [".npz"] and files[0].name.startswith(f"{PACKAGE}-")
    question, texts = "supprimer le fichier", ["effacer le document", "la météo de demain"]
    assert exported is not None and exported.coverage(question, texts) == vectors.coverage(question, texts)
    probe = (
        "import sys; from pathlib import Path; from retrievers.word_vectors import load_word_vectors; "
        f"v = load_word_vectors({PACKAGE!r}, Path({str(tmp_path)!r})); "
        "print(v is not None, 'spacy' in sys.modules, 'torch' in sys.modules)"
    )
    started = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert started.stdout.split() == ["True", "False", "False"], started.stderr
    assert list(tmp_path.iterdir()) == files, "not exported again"


def test_a_failed_export_or_a_damaged_file_falls_back_to_shared_words(tmp_path, monkeypatch, caplog):
    unwritable = tmp_path / "file-not-dir"
    unwritable.write_text("")
    assert load_word_vectors(PACKAGE, unwritable) is None
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / f"{PACKAGE}-{importlib.metadata.version(PACKAGE)}.npz").write_bytes(b"not an archive")
    assert load_word_vectors(PACKAGE, damaged) is None
    assert caplog.text.count("shared words only") == 2


def test_dependencies_built_off_the_loop_read_the_vectors_then(tmp_path):
    """``langgraph dev`` and the CLI build their dependencies in a worker thread: the vectors
    (a first export runs a child process) must be read there, not in the first run's loop."""
    from graphs.dependencies import RunDependencies

    settings = Settings(_env_file=None, data_dir=tmp_path, word_vectors_dir=EXPORTS)
    offline = RunDependencies.from_settings(settings, store=object())  # type: ignore[arg-type]
    assert vars(offline.models).get("word_vectors") is not None
    with_llm = RunDependencies.from_settings(settings.model_copy(update={"default_model": "gpt-4o-mini"}), store=object())  # type: ignore[arg-type]
    assert "word_vectors" not in vars(with_llm.models)


async def test_a_first_local_answer_reads_the_vectors_off_the_event_loop(tmp_path, monkeypatch):
    """An app whose default model is an LLM does not read the vectors at start-up: the first
    request naming the offline model must not read them on the loop every request shares."""
    import threading

    from nodes.models import factory

    readers: list[threading.Thread] = []
    real = load_word_vectors

    def recording(package: str, directory: Path) -> WordVectors | None:
        readers.append(threading.current_thread())
        return real(package, directory)

    monkeypatch.setattr("retrievers.word_vectors.load_word_vectors", recording)
    registry = factory.ModelRegistry(Settings(_env_file=None, data_dir=tmp_path, word_vectors_dir=EXPORTS, default_model="gpt-4o-mini"))
    model = await registry.achat("local-extractive", 0.0)
    assert model.word_vectors is not None
    assert readers and readers[0] is not threading.main_thread()
    await registry.achat("local-extractive", 0.0)
    assert len(readers) == 1  # read once
