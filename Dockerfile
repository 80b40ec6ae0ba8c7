FROM python:3.11-slim

# The service and its runtime dependencies only (pyproject.toml); no test or lint tools.
COPY pyproject.toml /tmp/bluetick/
COPY src /tmp/bluetick/src
RUN pip install --no-cache-dir /tmp/bluetick && rm -rf /tmp/bluetick

RUN useradd --create-home --uid 10001 bluetick && mkdir -p /data && chown bluetick /data
USER bluetick
WORKDIR /home/bluetick
ENV BLUETICK_DATA_DIR=/data PORT=8080
EXPOSE 8080
# slim has no curl; urlopen raises (exit 1) on a refused connection or a non-2xx answer
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['PORT'] + '/healthz', timeout=4)"
CMD ["bluetick", "serve"]
