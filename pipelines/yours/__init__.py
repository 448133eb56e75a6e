"""The project's own code: the data contract (schema.py), preprocessing (features.py) and the
estimators it can train (estimators.py). Everything a fork edits lives here; template updates
never touch this folder."""
