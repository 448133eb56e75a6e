"""The prediction service and its deployment files (container, dashboard)."""
