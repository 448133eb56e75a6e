"""The four DVC stages, one module each: validate, split, train, evaluate (dvc.yaml runs them).

Each stage lists its own module, and every project module that one loads, among its dvc.yaml deps, so a
change to one stage's code re-runs that stage and the ones after it, never the ones before. Making the data
present and judging a re-run are pipelines.jobs.runs."""
