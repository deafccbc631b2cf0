# The painting server: `spade serve` on port 8000, weights from weights/ baked in.
#
#   CPU (default):  docker build -t spade-painting .
#   CUDA wheel:     docker build --build-arg TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126" -t spade-painting:cuda .
#   Own base:       docker build --build-arg BASE_IMAGE=<image with python>=3.10 + pip> --build-arg TORCH_SPEC="" .
#                   (TORCH_SPEC="" keeps the torch the base image already has)
#   Run:            docker run --rm -p 8000:8000 spade-painting        (GPU: add --gpus all)
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ARG TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /srv/spade

# torch first, from its own index, so the project's `torch>=2.3` is already satisfied.
RUN if [ -n "$TORCH_SPEC" ]; then python3 -m pip install $TORCH_SPEC; fi

# Editable install: the app finds static/ and templates/ next to its source in /srv/spade.
COPY pyproject.toml README.md ./
COPY model ./model
COPY app ./app
RUN python3 -m pip install -e .

COPY templates ./templates
COPY static ./static
COPY weights ./weights

RUN useradd --create-home --uid 10001 spade
USER spade

ENV SPADE_MODEL_DIR=/srv/spade/weights/landscapes \
    SPADE_HOST=0.0.0.0 \
    SPADE_PORT=8000
EXPOSE 8000

# Liveness only: /readyz is 503 while the model loads (or if its weights are bad).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SPADE_PORT', '8000'), timeout=4)"]

CMD ["spade", "serve", "--host", "0.0.0.0"]
