# syntax=docker/dockerfile:1
# Build stage: build a wheel of the bot and its dependencies.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
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
# Mount your config at /config/config.toml with [database] path = "/data/sora-bot.sqlite3";
# pass secrets as SORA_BOT_DISCORD_TOKEN and SORA_BOT_APIFRAME_API_KEY.
ENTRYPOINT ["sora-bot", "--config", "/config/config.toml"]
CMD ["run"]
