"""Adapters: the only modules that touch disk, environment, git, DVC, MLflow, GitHub, the
container engine and HTTP. They may use pipelines.core; they never orchestrate (no jobs)."""
