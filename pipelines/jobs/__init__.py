"""Jobs: one module per workflow family, each registering the `python -m pipelines` commands
its workflow steps run. They wire pipelines.yours into pipelines.core through pipelines.adapters."""
