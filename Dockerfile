# One image: `serve` by default, `migrate` as a separate step when wanted
#   docker run IMAGE            -> python -m service serve
#   docker run IMAGE migrate    -> python -m service migrate

FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir build==1.2.2.post1
COPY pyproject.toml README.md ./
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
RUN groupadd --gid 10001 app \
 && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin app \
 && mkdir /data && chown 10001:10001 /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels reseller-ordering-api==0.1.0 \
 && rm -rf /wheels
USER 10001:10001
WORKDIR /data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get('PORT', '8080'), timeout=2)"]
ENTRYPOINT ["python", "-m", "service"]
CMD ["serve"]
