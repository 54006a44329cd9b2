# killswitch container image.
#
#   docker build -t killswitch .                                     # online: pip reaches PyPI
#   docker build --build-arg WHEELHOUSE=.ci/cache/wheelhouse -t killswitch .   # offline
#   docker run -v ./my-config.yaml:/etc/killswitch/config.yaml:ro -v ks-state:/var/lib/killswitch killswitch
#
# Build args:
#   BASE_IMAGE  any Debian-like image with python3 (>= 3.11) and the venv module. The default is
#               the official slim image; offline builds use a locally imported one.
#   WHEELHOUSE  a directory inside the build context holding wheels of killswitch and all its
#               dependencies (`pip wheel -w DIR '.[postgres]'`). Set: install with --no-index
#               from there, nothing is downloaded. Empty (default): install from PyPI.
#   EXTRAS      pip extras to install (default "all": PostgreSQL for HA and every cloud SDK).
#               killswitch 0.1 imports every built-in provider at start, so leaving an SDK out
#               breaks startup; once providers import their SDKs lazily, "postgres" is enough
#               for an LLM-only deployment and saves ~100 MB.
#
# The image runs the simulated demo out of the box (deploy/docker/config.yaml); mount your own
# config over /etc/killswitch/config.yaml. State lives in the /var/lib/killswitch volume.

ARG BASE_IMAGE=python:3.11-slim

# ---------------------------------------------------------------- build: a venv in /opt/killswitch
FROM ${BASE_IMAGE} AS build
ARG WHEELHOUSE=
ARG EXTRAS=all
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY . /src
RUN set -eu; \
    python3 -m venv /opt/killswitch; \
    spec="killswitch-daemon${EXTRAS:+[$EXTRAS]}"; \
    if [ -n "$WHEELHOUSE" ]; then \
        /opt/killswitch/bin/pip install --no-index --find-links "/src/$WHEELHOUSE" "$spec"; \
    else \
        /opt/killswitch/bin/pip install "/src${EXTRAS:+[$EXTRAS]}"; \
    fi; \
    /opt/killswitch/bin/killswitch --help >/dev/null; \
    /opt/killswitch/bin/pip uninstall --yes pip setuptools >/dev/null 2>&1 || true

# ---------------------------------------------------------------- runtime: no compilers, no pip
FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="killswitch" \
      org.opencontainers.image.description="Hard spending caps for LLM APIs and clouds" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed numeric user, so Kubernetes runAsNonRoot can verify it without /etc/passwd.
ARG UID=10001
ENV PATH=/opt/killswitch/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/var/lib/killswitch \
    KILLSWITCH_HEALTHCHECK_URL=http://127.0.0.1:9464/healthz

COPY --from=build /opt/killswitch /opt/killswitch
COPY deploy/docker/config.yaml /etc/killswitch/config.yaml
RUN mkdir -p /var/lib/killswitch && chown ${UID}:${UID} /var/lib/killswitch && chmod 0750 /var/lib/killswitch
VOLUME ["/var/lib/killswitch"]
WORKDIR /var/lib/killswitch
USER ${UID}:${UID}
EXPOSE 9464

# Liveness only (/healthz): a stale provider must not get the container restarted.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['KILLSWITCH_HEALTHCHECK_URL'], timeout=4)"]

# Exec form: killswitch is PID 1 and gets SIGTERM itself (it stops within ~8 s, under docker's 10 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["killswitch"]
CMD ["run", "-c", "/etc/killswitch/config.yaml"]
