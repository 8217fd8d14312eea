# reelgate: one image for API and worker processes.
#   docker build -t reelgate .
#   docker run -p 8000:8000 -v reelgate-data:/var/lib/reelgate reelgate
# The image holds runtime dependencies only (no dev tools). Every setting is an
# environment variable (README "Configuration"); the defaults give the embedded
# deployment (SQLite, local media, local renderer) under /var/lib/reelgate.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    REELGATE_DATA_DIR=/var/lib/reelgate \
    REELGATE_HOST=0.0.0.0 \
    REELGATE_PORT=8000 \
    REELGATE_LOG_JSON=1

WORKDIR /opt/reelgate
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip install ".[s3]" \
 && useradd --system --home-dir /var/lib/reelgate --create-home reelgate

USER reelgate
VOLUME ["/var/lib/reelgate"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)" || exit 1
ENTRYPOINT ["reelgate"]
CMD ["serve"]
