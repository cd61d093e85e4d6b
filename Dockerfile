# One image for every CaseTrail service; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY events ./events
COPY projections ./projections
COPY services ./services
RUN pip install --no-cache-dir .
ENTRYPOINT []
