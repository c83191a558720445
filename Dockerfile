# One image for every function. FUNCTION picks which one it serves (submit, status, download, scan, sweep): at
# time (--build-arg FUNCTION=scan, as the OpenFaaS stack builds one image per function) or at run time
# (-e FUNCTION=scan, as docker-compose and Knative run one image for all). It serves HTTP on $PORT (default
# 8080): the function's routes, /healthz, /metrics, and /_/health and /_/ready for OpenFaaS and Kubernetes.
FROM python:3.11-slim
ARG FUNCTION=""
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy \
    PATH=/app/.venv/bin:$PATH PORT=8080 FUNCTION=${FUNCTION}
RUN pip install --no-cache-dir uv
WORKDIR /app
# The locked dependencies first: this layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY shared ./shared
COPY local/ethsource_local ./local/ethsource_local
COPY functions ./functions
RUN uv sync --frozen --no-dev
USER nobody
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/_/health' % os.environ['PORT'], timeout=2)"]
ENTRYPOINT ["sh", "-c", "exec ethsource serve \"${FUNCTION:?set FUNCTION to submit, status, download, scan or sweep}\" --port \"$PORT\""]
