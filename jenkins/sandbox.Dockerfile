# The ca-sandbox stand-ins (devpi, the CodeArtifact API stand-in, moto) as compose services.
# Build context: the repository root.
FROM python:3.11-slim-bookworm
COPY pyproject.toml README.md /src/
COPY tools /src/tools
RUN pip install --no-cache-dir "/src[sandbox]" && rm -rf /src
