# The tracking server of the team stack: MLflow's own image plus the PostgreSQL driver and the S3
# client it needs for --backend-store-uri postgresql://... and --artifacts-destination s3://...
# Tag only, not yet pinned by digest like the other images: no public record of v3.17.2's digest was found,
# and an older line (v3.16) would put the server behind the 3.17 client in uv.lock. Pin it as
# `ghcr.io/mlflow/mlflow:v3.17.2@sha256:<digest>` with the digest `docker buildx imagetools inspect` prints, and
# drop it from UNPINNED_ALLOWED in tests/workflows/test_workflows.py. Dependabot watches it weekly either way.
FROM ghcr.io/mlflow/mlflow:v3.17.2
RUN pip install --no-cache-dir "psycopg[binary]==3.3.9" "boto3==1.40.*"
USER 1000:1000
