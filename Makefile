# The one task runner: workflows, CI and people call these targets (or `python -m pipelines`).
# `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3
# VENV may point at an existing environment (the template's self-test reuses the suite's one).
VENV ?= .venv
# uv's one pin is the setup action's `version:` (what GitHub's runners install); a local install takes the same.
UV_VERSION := $(shell sed -n 's/^ *version: "\([0-9.]*\)".*/\1/p' .github/actions/setup/action.yml)
CML_VERSION := 0.20.6
ACTIONLINT_VERSION := v1.7.7
# A uv already on PATH is used as is; otherwise a pinned one is installed into .tools/ with pip.
UV ?= $(or $(shell command -v uv 2>/dev/null),.tools/bin/uv)

VENV_ABS := $(abspath $(VENV))
export UV_PROJECT_ENVIRONMENT := $(VENV_ABS)
export PATH := $(VENV_ABS)/bin:$(PATH)
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
# Compile .pyc at install time: some machines (CI runners included) set PYTHONDONTWRITEBYTECODE,
# and then every DVC stage would recompile pandas, scipy and scikit-learn from source (~3 s each).
export UV_COMPILE_BYTECODE := 1

.PHONY: help install data repro run metrics test test-fast test-workflows act table kind-up kind-image kind-deploy kind-smoke render lint typecheck lint-workflows actionlint cml init setup template-record protect serve image-context image-login requirements bench-pipeline bench-ci bench-serve bench-monitor clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet uv==$(UV_VERSION)

# The environment is in sync when it was last synced from these exact files (by content, not by date:
# a fresh checkout or a copied workspace has new dates and the same lock).
LOCK_DIGEST = $(shell $(PYTHON) -c "import hashlib; print(hashlib.sha256(open('pyproject.toml', 'rb').read() + open('uv.lock', 'rb').read()).hexdigest())")

install: ## create .venv and install the locked dependencies (uv.lock); a no-op when it is in sync
	@if test "$$(cat $(VENV_ABS)/.synced 2>/dev/null)" = "$(LOCK_DIGEST)"; then \
	  echo "install: $(VENV) is in sync with uv.lock (nothing to do)"; else \
	  test ! -e $(VENV_ABS) || test -f $(VENV_ABS)/pyvenv.cfg || \
	    { echo "VENV=$(VENV) exists and is not a virtual environment; refusing to install into it" >&2; exit 1; }; \
	  $(MAKE) --no-print-directory $(UV) && $(UV) sync --frozen --extra dev && echo "$(LOCK_DIGEST)" > $(VENV_ABS)/.synced; fi

data: install ## make the raw data present: `dvc pull` with a remote, else the embedded default
	python -m pipelines bootstrap

repro: data ## run the DVC pipeline (only the stages whose inputs changed)
	dvc repro

run: repro ## the main job: install, data, the whole pipeline, whether it reproduces HEAD, the metrics table
	@python -m pipelines reproduce --no-run --advisory
	@dvc metrics show

metrics: ## compare metrics and params of the workspace with HEAD
	dvc metrics diff --all
	dvc params diff

# TESTS narrows the selection (the workflow tier sets it for the jobs that run `make test` inside a scenario).
TESTS ?=

test: data ## the whole test suite on the project's own data (unit, data, model, service, integration, workflows), one worker per core
	pytest --numprocesses=auto --dist=loadgroup --ignore=tests/runner $(TESTS)

test-workflows: install ## the workflow files themselves under a real Actions runner (nektos/act), each scenario in a sandbox shaped like GitHub's runner
	@test -z "$$PIPELINES_RUNNER_SANDBOX" || { echo "test-workflows: refusing to run inside a workflow scenario" >&2; exit 1; }
	pytest --numprocesses=auto --dist=loadgroup --timeout=1800 --durations=0 tests/runner

act: install ## run one workflow job locally the way the workflow tier does: WORKFLOW=pull-request JOB=pipeline (docs/OPERATIONS.md)
	python -m tests.runner.local "$(WORKFLOW)" "$(JOB)"

test-fast: data ## the edit-test loop: the unit, data, model and in-process service tiers (about half a minute)
	pytest --numprocesses=auto -m "not slow" tests/unit tests/data tests/model tests/service

lint: install ## ruff lint and format check
	ruff check .
	ruff format --check .

typecheck: install ## mypy on the package and the service (pyproject.toml: files)
	mypy

lint-workflows: install ## zizmor, the workflow JSON schema, and actionlint when it is installed
	zizmor --offline .github/
	check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	@if command -v actionlint >/dev/null || test -x .tools/bin/actionlint; then \
	  PATH="$(CURDIR)/.tools/bin:$$PATH" actionlint; else echo "actionlint not installed (make actionlint): skipped"; fi

actionlint: ## install actionlint into .tools/bin (needs Go; the workflow-lint workflow does this on GitHub)
	GOBIN=$(CURDIR)/.tools/bin go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

cml: ## install CML (npm), used by the comment workflow
	npm install --global --no-audit --no-fund @dvcorg/cml@$(CML_VERSION)

table: install ## template self-test: write a table that is not the example, KIND=binary|multiclass|regression|imbalanced OUT=path
	@test -n "$(KIND)" -a -n "$(OUT)" || { echo "set KIND=... OUT=..." >&2; exit 1; }
	python -m tests.tables "$(KIND)" "$(OUT)"

init: install ## make this copy your project: ARGS='--dataset my.csv --target y' (see docs/FORKING.md)
	python -m pipelines init $(ARGS)

setup: install ## one-time GitHub setup of REPO=owner/name: branches, Environments, protection (DRY_RUN=1 to print)
	python -m pipelines setup --repo "$(REPO)" $(if $(DRY_RUN),--dry-run)

template-record: install ## template maintainers: record the files init owns as the template ships them
	python -m pipelines template-record

protect: install ## apply .github/protection.yml to REPO=owner/name through the GitHub API (DRY_RUN=1 to print)
	python -m pipelines protect --repo "$(REPO)" $(if $(DRY_RUN),--dry-run)

serve: install ## serve models/model on 127.0.0.1:8080 (see serve: in params.yaml)
	python -m pipelines serve

image-context: install ## lay out the serving image's build context in build/image (model verified)
	python -m pipelines image-context --out build/image

image-login: ## log the container engine in to the registry of $IMAGE (GHCR: GITHUB_TOKEN as GITHUB_ACTOR)
	@test -n "$(IMAGE)" || { echo "set IMAGE=registry/name" >&2; exit 1; }
	@echo "$$GITHUB_TOKEN" | docker login "$(firstword $(subst /, ,$(IMAGE)))" --username "$$GITHUB_ACTOR" --password-stdin

requirements: install ## re-export deploy/requirements.txt (the image's packages) from uv.lock
	$(UV) export --frozen --only-group serve --no-emit-project --no-header --output-file deploy/requirements.txt --quiet

bench-pipeline: install ## benchmark: time and memory of the pipeline at 10k-1M rows
	python benchmarks/pipeline.py

bench-ci: install ## benchmark: the pull-request job's critical path (warm install, repro, report, gate)
	python benchmarks/ci_path.py

bench-monitor: install ## benchmark: drift monitoring over 1M logged rows x 30 features
	python benchmarks/monitor.py

bench-serve: install ## benchmark: this service against `mlflow models serve` (needs wrk, or uses a Python client)
	python benchmarks/serve.py

# --- A throwaway cluster (the deploy-kind workflow runs these on GitHub: they need docker and kind) ---
KIND_CLUSTER ?= gitops-ml
KIND_REGISTRY ?= localhost:5001
ENVIRONMENT ?= staging

kind-up: ## GitHub only: a kind cluster and a registry at $(KIND_REGISTRY) that its nodes pull from
	docker run -d --restart=always -p "127.0.0.1:5001:5000" --network bridge --name kind-registry registry:2
	printf 'kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\ncontainerdConfigPatches:\n- |-\n  [plugins."io.containerd.grpc.v1.cri".registry]\n    config_path = "/etc/containerd/certs.d"\n' \
	  | kind create cluster --name $(KIND_CLUSTER) --wait 180s --config=-
	for node in $$(kind get nodes --name $(KIND_CLUSTER)); do \
	  docker exec "$$node" mkdir -p /etc/containerd/certs.d/$(KIND_REGISTRY); \
	  printf '[host."http://kind-registry:5000"]\n' | docker exec -i "$$node" cp /dev/stdin /etc/containerd/certs.d/$(KIND_REGISTRY)/hosts.toml; \
	done
	docker network connect kind kind-registry

kind-image: install ## GitHub only: build the serving image from the workspace's model, push it, record name@digest
	python -m pipelines image-context --out build/image
	docker build -t $(KIND_REGISTRY)/prediction-service:ci build/image
	docker push $(KIND_REGISTRY)/prediction-service:ci
	docker inspect --format '{{index .RepoDigests 0}}' $(KIND_REGISTRY)/prediction-service:ci > build/kind-image.txt

kind-deploy: install ## GitHub only: apply ENVIRONMENT's rendered overlay with that digest and wait for the rollout
	python -m pipelines render --env $(ENVIRONMENT) --image "$$(cat build/kind-image.txt)" --out build/kind-$(ENVIRONMENT).yaml
	kubectl apply -f build/kind-$(ENVIRONMENT).yaml
	kubectl -n ml-$(ENVIRONMENT) rollout status deployment/prediction-service --timeout=300s

# No sleep for the port-forward to bind: `smoke` retries refused connections until the service is ready (90 s).
kind-smoke: install ## GitHub only: smoke-test ENVIRONMENT's service in the cluster through a port-forward
	kubectl -n ml-$(ENVIRONMENT) port-forward service/prediction-service 18080:80 & pid=$$!; \
	  python -m pipelines smoke --url http://127.0.0.1:18080 --workspace; status=$$?; kill $$pid; exit $$status

render: install ## print ENVIRONMENT's Kubernetes manifests, checked against the schemas and the policy (ENVIRONMENT=staging)
	python -m pipelines render --env $(ENVIRONMENT)

clean: ## remove the environment and uncommitted outputs (keeps data/, the DVC cache, metrics and plots)
	rm -rf $(VENV) .tools mlflow.db mlruns build/*.parquet reports/validation.json reports/figures models/model
