# syntax=docker/dockerfile:1.7
# escape=\

# The toolchain lives in the build stage only; the runtime stage gets wheels.
ARG PYTHON_IMAGE=python:3.12.4-slim-bookworm@sha256:a1675fc29cc86b8e915c1c48a9583c1b43a834615147fcbaa59676e2e39476a4

FROM --platform=$BUILDPLATFORM ${PYTHON_IMAGE} AS build
RUN apt-get update \
    # compilers for the wheels that have C extensions
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY requirements.txt .
RUN --mount=type=cache,target=/root/.cache/pip pip wheel --wheel-dir /wheels -r requirements.txt
COPY src/ /src/
RUN <<EOT
set -eu
python -m compileall -q /src
EOT

FROM python:3.12.4-slim-bookworm@sha256:a1675fc29cc86b8e915c1c48a9583c1b43a834615147fcbaa59676e2e39476a4 AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    DB_PASSWORD_FILE=/run/secrets/db_password
# Given at build time with --build-arg; no default is baked in.
ARG SENTRY_TOKEN
RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid app app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY --chown=app:app --from=build /src /app
ADD vendor/geoip.tar.gz /opt/geoip/
ADD https://example.com/licences/THIRD-PARTY.txt /app/
USER app:app
HEALTHCHECK --interval=30s --timeout=3s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8000/health || exit 1
EXPOSE 8000
CMD ["python", "-m", "app"]
