#!/usr/bin/env bash
# System packages the sandbox and the Docker tests need (Debian 12). Idempotent; only root installs.
set -euo pipefail
need=()
command -v /usr/bin/docker >/dev/null 2>&1 || need+=(docker.io)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v java >/dev/null 2>&1 || need+=(default-jre-headless)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "system-deps: missing ${need[*]}; install them as root (apt-get install ${need[*]})" >&2
    exit 0  # the tests that need them skip with a reason
  fi
  echo "system-deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# npm-groovy-lint@16 (v16 runs offline with Java 17; v18 needs Node 22) for the Jenkinsfile lint test
GROOVYLINT=${GROOVYLINT_PREFIX:-/opt/groovylint}
if [ "$(id -u)" = 0 ] && command -v npm >/dev/null 2>&1 && [ ! -x "$GROOVYLINT/node_modules/.bin/npm-groovy-lint" ]; then
  echo "system-deps: installing npm-groovy-lint@16 into $GROOVYLINT"
  npm install --no-audit --no-fund --silent --prefix "$GROOVYLINT" npm-groovy-lint@16 >/dev/null
fi
# @action-validator/cli (GitHub workflow schema validator, no binary download) for the workflow lint test
VALIDATOR=${ACTION_VALIDATOR_PREFIX:-/opt/action-validator}
if [ "$(id -u)" = 0 ] && command -v npm >/dev/null 2>&1 && [ ! -x "$VALIDATOR/node_modules/.bin/action-validator" ]; then
  echo "system-deps: installing @action-validator/cli@0.6.0 into $VALIDATOR"
  npm install --no-audit --no-fund --silent --prefix "$VALIDATOR" @action-validator/cli@0.6.0 >/dev/null
fi
