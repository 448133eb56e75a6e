# The tracking server of the team stack: MLflow's own image plus the PostgreSQL driver and the S3
# client it needs for --backend-store-uri postgresql://... and --artifacts-destination s3://...
FROM ghcr.io/mlflow/mlflow:v3.17.2
RUN pip install --no-cache-dir "psycopg[binary]==3.3.9" "boto3==1.40.*"
USER 1000:1000
