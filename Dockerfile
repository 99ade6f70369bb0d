# GridBot: `gridbot run` on port 8000, as an unprivileged user (uid 1000).
#   config:   GRIDBOT_CONFIG, /app/config.yaml (the demo network) unless one is mounted there
#   data:     the working folder, the /data volume: the SQLite database gridbot.sqlite3, unless
#             GRIDBOT_DATABASE_URL (or its secret file) names another database
#   secrets:  environment variables, or files of the same name in /run/secrets (GRIDBOT_SECRETS_DIR)
# Any other gridbot command runs in place of `run`: docker run --rm IMAGE config check
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    GRIDBOT_CONFIG=/app/config.yaml \
    GRIDBOT_SECRETS_DIR=/run/secrets

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY flows ./flows
COPY models ./models
COPY api ./api
RUN pip install . && useradd --create-home --uid 1000 gridbot && mkdir /data && chown gridbot /data
COPY config.yaml ./

USER gridbot
# No GRIDBOT_DATABASE_URL here: it would hide a secret file of that name. The default database,
# sqlite:///gridbot.sqlite3, is a file in the working folder, the volume.
WORKDIR /data
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
ENTRYPOINT ["gridbot"]
CMD ["run", "--host", "0.0.0.0", "--port", "8000"]
