# One image: `serve` by default, `migrate` as a separate step when wanted
#   docker run IMAGE            -> tini -s -- python -m service serve
#   docker run IMAGE migrate    -> tini -s -- python -m service migrate

FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir build==1.2.2.post1
COPY pyproject.toml README.md LICENSE ./
COPY service ./service
COPY sql ./sql
# The wheel carries sql/ inside the package; dependencies are built here so the
# runtime stage needs no compiler and no network.
RUN python -m build --wheel --outdir /dist \
 && pip wheel --no-cache-dir --wheel-dir /wheels /dist/*.whl

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATA_DIR=/data \
    PORT=8080
# tini is PID 1. Python as PID 1 would ignore SIGTERM until `serve` installs its
# handler (so `docker stop` during start-up or `migrate` waits for SIGKILL), and
# nothing would reap orphans such as the embedded PostgreSQL's processes.
# 0.19.0 is tini's latest release and the one every supported Debian ships; the
# Debian revision is left free so a rebuild on a newer base image still works.
RUN apt-get update \
 && apt-get install -y --no-install-recommends 'tini=0.19.0*' \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --gid 10001 app \
 && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin app \
 && mkdir /data && chown 10001:10001 /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels reseller-ordering-api==3.2.0 \
 && rm -rf /wheels
USER 10001:10001
WORKDIR /data
EXPOSE 8080
# Probes where the service listens: HOST and PORT read as the service reads them
# (blank means the default), a wildcard address (0.0.0.0, ::) through loopback.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request as u; h = os.environ.get('HOST', '').strip() or '0.0.0.0'; h = {'0.0.0.0': '127.0.0.1', '::': '::1'}.get(h, h); h = '[%s]' % h if ':' in h else h; p = os.environ.get('PORT', '').strip() or '8080'; u.urlopen('http://%s:%s/health/live' % (h, p), timeout=2)"]
# -s: tini stays a subreaper and quiet when something else is PID 1 (docker run
# --init, Compose `init: true`, a Kubernetes pod sharing its process namespace).
# Signals go to the service only (no -g): with WORKERS > 1 the parent forwards
# them to its workers, and the embedded PostgreSQL is stopped by the service.
ENTRYPOINT ["tini", "-s", "--", "python", "-m", "service"]
CMD ["serve"]
