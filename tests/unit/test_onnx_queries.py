"""The query encoder on ONNX Runtime: the same vectors as torch, exported once, never half written."""

from __future__ import annotations

import logging
import math

import pytest

from retrievers import onnx_queries
from retrievers.embeddings import LocalEmbeddings

QUERIES = [
    "Quel est le port par défaut ?",
    "x",
    "Comment empêcher la création des fichiers .pyc sans modifier le code de mon application ?",
    "Quelle est la durée de validité d'un jeton d'accès ? " * 40,  # beyond the 256-piece window
]


def cosine(a: list[float], b: list[float]) -> float:
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


def test_onnx_queries_give_torch_s_vectors_alone_and_padded_in_a_batch(embeddings, tmp_path):
    torch_model = LocalEmbeddings(query_cache_size=0)
    onnx_model = LocalEmbeddings(query_cache_size=0, onnx_dir=tmp_path)
    expected = torch_model.encode_queries(QUERIES)
    batched = onnx_model.encode_queries(QUERIES)
    assert onnx_model._onnx is not None, "the export failed: queries fell back to torch"
    alone = [onnx_model.encode_queries([q])[0] for q in QUERIES]
    for want, got_batched, got_alone in zip(expected, batched, alone, strict=True):
        assert len(got_batched) == 384
        assert math.isclose(math.fsum(x * x for x in got_batched), 1.0, rel_tol=1e-5)
        assert cosine(want, got_batched) > 0.99999
        assert cosine(want, got_alone) > 0.99999
    assert cosine(batched[0], batched[2]) < 0.99  # different questions, different vectors


def test_the_export_is_made_once_and_reused(embeddings, tmp_path, monkeypatch):
    LocalEmbeddings(query_cache_size=0, onnx_dir=tmp_path).embed_query("premier")
    [exported] = tmp_path.iterdir()  # one file, no temporary left behind
    assert exported.name.startswith("all-MiniLM-L6-v2-") and exported.suffix == ".onnx"

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_queries, "export", no_export)
    again = LocalEmbeddings(query_cache_size=0, onnx_dir=tmp_path)
    again.embed_query("second")
    assert again._onnx is not None and list(tmp_path.iterdir()) == [exported]


def test_an_export_that_fails_midway_leaves_nothing_and_queries_fall_back_to_torch(embeddings, tmp_path, monkeypatch, caplog):
    import os

    real_replace = os.replace

    def crash(src, dst):  # the export is written, then the process "dies" before the rename
        raise OSError("disk full")

    monkeypatch.setattr(onnx_queries.os, "replace", crash)
    model = LocalEmbeddings(query_cache_size=0, onnx_dir=tmp_path)
    with caplog.at_level(logging.WARNING, logger="retrievers.onnx_queries"):
        vector = model.embed_query("Quel est le port par défaut ?")
    assert model._onnx is None and "queries are encoded with torch" in caplog.text
    assert list(tmp_path.iterdir()) == []  # no half file for the next start to load
    assert cosine(vector, LocalEmbeddings(query_cache_size=0).embed_query("Quel est le port par défaut ?")) > 0.99999

    monkeypatch.setattr(onnx_queries.os, "replace", real_replace)
    retry = LocalEmbeddings(query_cache_size=0, onnx_dir=tmp_path)
    retry.embed_query("Quel est le port par défaut ?")
    assert retry._onnx is not None and len(list(tmp_path.iterdir())) == 1


def test_settings_place_the_export_under_the_data_dir_unless_told(settings_factory, tmp_path):
    from retrievers.embeddings import build_embeddings
    from routeur.settings import Settings

    default = Settings(_env_file=None, data_dir=tmp_path / "data", embeddings_onnx_dir=None)
    assert default.resolved_embeddings_onnx_dir() == tmp_path / "data" / "models" / "onnx"
    chosen = Settings(_env_file=None, data_dir=tmp_path / "data", embeddings_onnx_dir=tmp_path / "elsewhere")
    assert build_embeddings(chosen).onnx_dir == tmp_path / "elsewhere"


@pytest.mark.parametrize("texts", [[], ["seul"]])
def test_empty_and_single_batches(embeddings, texts):
    assert len(embeddings.encode_queries(texts)) == len(texts)
