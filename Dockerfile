# aios3 in a container: serves /data on port 8888 (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Only what the package needs, so local data directories and venvs stay out of the image.
COPY pyproject.toml README.md ./
COPY aios3 ./aios3
RUN pip install .

VOLUME /data
EXPOSE 8888
# Exec form: the server is PID 1 and gets SIGTERM from `docker stop` directly, so it
# finishes in-flight requests before exiting.
CMD ["python", "-m", "aios3", "--host", "0.0.0.0", "--root", "/data"]
