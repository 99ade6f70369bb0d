FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    GRIDBOT_CONFIG=/app/config.yaml \
    GRIDBOT_DATABASE_URL=sqlite:////data/gridbot.sqlite3

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY flows ./flows
COPY models ./models
COPY api ./api
RUN pip install . && useradd --create-home --uid 1000 gridbot && mkdir /data && chown gridbot /data
COPY config.yaml ./

USER gridbot
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["gridbot", "run", "--host", "0.0.0.0", "--port", "8000"]
