# syntax=docker/dockerfile:1
# Build stage: build a wheel of the bot and its dependencies.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY cogs ./cogs
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Runtime stage: only the installed wheels, run as an unprivileged user.
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 sora \
    && mkdir -p /data /config && chown sora:sora /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER sora
WORKDIR /home/sora
# The database lives on a volume so it survives container upgrades.
VOLUME ["/data"]
ENV PYTHONUNBUFFERED=1
# The bot's HTTP listener ([web]): Apiframe's webhooks, /healthz and /metrics. Bind it to
# 0.0.0.0 in the config so the health check and Prometheus can reach it.
EXPOSE 8080
# Healthy only when the gateway is connected, the database takes a write and the scheduler
# runs (GET /healthz answers 200; 503 or no answer fails). python, since slim has no curl.
# Another port or path: set SORA_BOT_HEALTHZ_URL.
ENV SORA_BOT_HEALTHZ_URL=http://127.0.0.1:8080/healthz
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['SORA_BOT_HEALTHZ_URL'], timeout=8)"]
# Mount your config at /config/config.toml with [database] path = "/data/sora-bot.sqlite3" and
# [web] enabled = true (host = "0.0.0.0" to publish the port for webhooks and /metrics; the
# HEALTHCHECK above needs the listener on);
# pass secrets as SORA_BOT_DISCORD_TOKEN and SORA_BOT_APIFRAME_API_KEY.
ENTRYPOINT ["sora-bot", "--config", "/config/config.toml"]
CMD ["run"]
