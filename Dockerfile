# One image for every function: FUNCTION picks which one it serves (submit, status, download, scan).
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy \
    PATH=/app/.venv/bin:$PATH PORT=8080
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY shared ./shared
COPY local/ethsource_local ./local/ethsource_local
COPY functions ./functions
RUN uv sync --frozen --no-dev
USER nobody
EXPOSE 8080
ENTRYPOINT ["sh", "-c", "exec ethsource serve \"${FUNCTION:?set FUNCTION to submit, status, download or scan}\" --port \"$PORT\""]
