# One image for every CaseTrail service; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
# The CJK font the case files (PDF) embed.
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY events ./events
COPY projections ./projections
COPY services ./services
RUN pip install --no-cache-dir .
ENTRYPOINT []
