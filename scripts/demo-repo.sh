#!/usr/bin/env bash
# `make demo-repo`: CodeArtifact beyond the first upload, on local stand-ins (no AWS account needed):
#   publish package_src to `dev` -> ca-repo promote to `release` (pinned to the tested revision, checked
#   by sha256) -> eval "$(ca-repo env)": pip and uv install the package from `release` -> ca-repo origin
#   -> three more dev versions and a prune dry run -> the consumer image built from `release` (when a
#   Docker engine is available; DEMO_DOCKER=0 skips it).
# Reruns are idempotent: the publish passes with --skip-existing, the promotion says "already there".
set -euo pipefail
cd "$(dirname "$0")/.."
SANDBOX=${SANDBOX:-.sandbox}
OUT=${OUT:-out/demo-repo}
DEMO_DOCKER=${DEMO_DOCKER:-1}
rm -rf "$OUT" && mkdir -p "$OUT"
say() { printf '\n== %s\n' "$*"; }
cleanup() {
  say "tear down: sandbox"
  ca-sandbox down --dir "$SANDBOX" >/dev/null
}
trap cleanup EXIT
show() { python -c 'import json, sys; d = json.load(open(sys.argv[1])); print(json.dumps({k: d.get(k) for k in sys.argv[2:]}))' "$@"; }

say "0. ca-sandbox up: devpi, the CodeArtifact stand-in (repositories my-repository, dev, release), moto, registry"
DOCKER_FLAG=()
if [ "$DEMO_DOCKER" = 1 ]; then DOCKER_FLAG=(--docker); fi
if ! ca-sandbox up --dir "$SANDBOX" --free-ports "${DOCKER_FLAG[@]}" >"$OUT/sandbox.log" 2>&1; then
  if [ "$DEMO_DOCKER" != 1 ]; then cat "$OUT/sandbox.log" >&2; exit 1; fi
  echo "(no Docker engine: $(tail -1 "$OUT/sandbox.log"); the consumer image step is skipped)"
  DEMO_DOCKER=0
  ca-sandbox up --dir "$SANDBOX" --free-ports >/dev/null
fi
# shellcheck disable=SC1091
. "$SANDBOX/env.sh"
VERSION=$(python -c 'import tomllib; print(tomllib.load(open("package_src/pyproject.toml", "rb"))["project"]["version"])')

say "1. ca-publish package_src --repository dev   (fantastic-ascii $VERSION)"
ca-publish package_src --repository dev --skip-existing --report "$OUT/publish.json"
show "$OUT/publish.json" name version outcome release

say "2. ca-repo promote fantastic-ascii $VERSION --from dev --to release --from-report publish.json"
ca-repo promote fantastic-ascii "$VERSION" --from dev --to release --from-report "$OUT/publish.json" \
  --report "$OUT/promote.json"
show "$OUT/promote.json" outcome source target revision files
echo "again (nothing to copy, still checked):"
ca-repo promote fantastic-ascii "$VERSION" --from dev --to release --from-report "$OUT/publish.json"

say "3. eval \"\$(ca-repo env --repository release)\": pip and uv install from release (nothing written anywhere)"
eval "$(ca-repo env --repository release)"
env | grep -E '^(PIP_INDEX_URL|UV_DEFAULT_INDEX)=' | sed -E 's/(aws:)[^@]+@/\1***@/'
python3 -m venv "$OUT/pip-venv"
PIP_CONFIG_FILE=/dev/null "$OUT/pip-venv/bin/pip" install -q --disable-pip-version-check "fantastic-ascii==$VERSION"
"$OUT/pip-venv/bin/python" -c 'import fantastic_ascii; print(fantastic_ascii.frame("pip: installed from release"))'
UV=$(python -c 'import uv; print(uv.find_uv_bin())')
"$UV" venv -q "$OUT/uv-venv"
UV_CACHE_DIR="$OUT/uv-cache" "$UV" pip install -q --python "$OUT/uv-venv/bin/python" "fantastic-ascii==$VERSION"
"$OUT/uv-venv/bin/python" -c 'import fantastic_ascii; print(fantastic_ascii.frame("uv: installed from release"))'
unset PIP_INDEX_URL UV_DEFAULT_INDEX

say "4. ca-repo origin fantastic-ascii   (the package group from infra/codeartifact.yml blocks the public upstream)"
ca-repo origin fantastic-ascii --repository dev --report "$OUT/origin.json"
show "$OUT/origin.json" group publish upstream shadowing

say "5. three per-commit versions in dev, then ca-repo prune --keep 2 --protect $VERSION --dry-run"
for n in 1 2 3; do
  rm -rf "$OUT/pkg" && cp -r package_src "$OUT/pkg" && rm -rf "$OUT/pkg/dist"
  sed -i "s/^version = \"$VERSION\"/version = \"$VERSION.post$n\"/" "$OUT/pkg/pyproject.toml"
  ca-publish "$OUT/pkg" --repository dev --skip-existing 2>&1 | tail -1
done
ca-repo prune fantastic-ascii --repository dev --keep 2 --protect "$VERSION" --dry-run --report "$OUT/prune.json"
show "$OUT/prune.json" action dry_run outcome plan

if [ "$DEMO_DOCKER" = 1 ]; then
  say "6. ca-consume-deploy build + smoke-test with CA_REPOSITORY=release   (the consumer image from release)"
  CA_REPOSITORY=release ca-consume-deploy build --context application_src --tag demo-repo
  CA_REPOSITORY=release ca-consume-deploy smoke-test --tag demo-repo
else
  say "6. (skipped: the consumer image from release needs a Docker engine)"
fi
echo
echo "reports: $OUT/{publish,promote,origin,prune}.json"
