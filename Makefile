# Two commands on a fresh machine: `make demo` (the whole journey on local stand-ins) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SANDBOX ?= .sandbox

.PHONY: demo demo-repo demo-release test lint bench clean sandbox-up sandbox-down jenkins-it

$(BIN)/.installed: pyproject.toml
	./scripts/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

demo: $(BIN)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" SANDBOX="$(SANDBOX)" ./scripts/demo.sh

demo-repo: $(BIN)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" SANDBOX="$(SANDBOX)-repo" ./scripts/demo-repo.sh

demo-release: $(BIN)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" SANDBOX="$(SANDBOX)-release" ./scripts/demo-release.sh

test: $(BIN)/.installed
	$(BIN)/python -m pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check tools tests benchmarks infra
	$(BIN)/ruff format --check tools tests benchmarks infra
	$(BIN)/mypy

# The docker-compose Jenkins end to end (docs/jenkins-it.md): skips with the reason where Docker Hub or a
# Docker engine is missing; CA_REQUIRE_JENKINS=1 makes that a failure.
jenkins-it: $(BIN)/.installed
	$(BIN)/python -m pytest -m jenkins tests/integration/test_jenkins_compose.py

bench: $(BIN)/.installed
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/publish.py
	$(BIN)/python benchmarks/image.py
	$(BIN)/python benchmarks/jobsync.py
	$(BIN)/python benchmarks/sandbox.py
	$(BIN)/python benchmarks/exit_gc.py

sandbox-up: $(BIN)/.installed
	$(BIN)/ca-sandbox up --dir $(SANDBOX) --docker

sandbox-down:
	$(BIN)/ca-sandbox down --dir $(SANDBOX)

clean:
	-$(BIN)/ca-sandbox down --dir $(SANDBOX)
	rm -rf $(VENV) $(SANDBOX) package_src/dist
