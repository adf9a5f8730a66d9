# shoplens: visual search + makeup try-on server.
#   CPU image:  docker build -t shoplens .
#   GPU image:  docker build --build-arg VARIANT=cuda -t shoplens:cuda .   (run with --gpus all)
# The default CLIP weights are fetched at build time, so the container starts with no network.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# The live try-on's browser package (MediaPipe Face Mesh), exactly as package-lock.json pins it.
FROM node:20-bookworm-slim AS web
WORKDIR /web
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts --loglevel=error

FROM ${PYTHON_IMAGE} AS builder
# cpu: PyTorch's CPU-only wheels (small); cuda: PyPI's wheels, which bundle the CUDA runtime.
ARG VARIANT=cpu
ARG MODEL=ViT-B-32
ARG PRETRAINED=laion2b_s34b_b79k
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 HF_HOME=/opt/models
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY vision ./vision
COPY indexer ./indexer
COPY static ./static
RUN if [ "$VARIANT" = "cpu" ]; then \
        pip install "torch<=2.14.1" "torchvision<=0.29.1" --index-url https://download.pytorch.org/whl/cpu; \
    fi \
 && pip install ".[openvino]"
RUN shoplens fetch-model --model "$MODEL" --pretrained "$PRETRAINED"

FROM ${PYTHON_IMAGE} AS runtime
# OpenCV (used by MediaPipe) needs these two shared libraries.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 shoplens \
 && mkdir -p /data/index \
 && chown shoplens /data/index
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder --chown=shoplens /opt/models /opt/models
COPY --from=web /web/node_modules/@mediapipe/face_mesh /opt/face_mesh
ENV PATH=/opt/venv/bin:$PATH \
    HF_HOME=/opt/models \
    HF_HUB_OFFLINE=1 \
    SHOPLENS_INDEX_DIR=/data/index \
    SHOPLENS_FACE_MESH_DIR=/opt/face_mesh \
    SHOPLENS_HOST=0.0.0.0 \
    SHOPLENS_PORT=8000 \
    SHOPLENS_DEVICE=auto
VOLUME ["/data/index"]
USER shoplens
WORKDIR /home/shoplens
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
CMD ["shoplens", "serve"]
