"""The pure core: data and params in, data out. No files, environment, git, DVC, MLflow or
network: those are pipelines.adapters. Nothing here imports adapters, jobs, template or yours
(an import-linter contract in pyproject.toml enforces it)."""
