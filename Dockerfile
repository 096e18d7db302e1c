# The image of the three Python services (users, payment, order) and the init-db step.
#   docker build -t tracing-demo .
#   docker run tracing-demo serve users        (or payment, order; or `init-db`)
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
# Dependencies first, pinned by the lock file, so code changes reuse this layer.
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --requirement requirements.lock
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY users ./users
COPY payment ./payment
COPY order ./order
COPY frontend ./frontend
RUN /opt/venv/bin/pip install --no-deps .

FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home app
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
# Writable for the no-configuration defaults (SQLite file, spans file) when run by hand.
RUN mkdir /app/var && chown 10001:10001 /app/var
USER 10001:10001
EXPOSE 8080 8081 8082
# `serve SERVICE` execs gunicorn for users, payment or order; `init-db` prepares the schema.
CMD ["serve", "users"]
