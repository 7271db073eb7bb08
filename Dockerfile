# One image for every process: `alchemi serve` (default), `alchemi worker`, `alchemi migrate`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Exact pins: constraints.txt pins every transitive version, as `make` does.
WORKDIR /src
COPY pyproject.toml constraints.txt ./
COPY app ./app
COPY workers ./workers
COPY tasks ./tasks
COPY piccolo_migrations ./piccolo_migrations
RUN pip install -c constraints.txt . && rm -rf /src

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin alchemi
USER alchemi
WORKDIR /home/alchemi

EXPOSE 4000
CMD ["alchemi", "serve", "--host", "0.0.0.0", "--port", "4000"]
