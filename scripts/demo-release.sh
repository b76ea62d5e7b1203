#!/usr/bin/env bash
# make demo-release: after the deploy, on local stand-ins (moto, a registry v2, a Docker engine).
# Build 1 to staging and prod (two stacks, two repositories), build 2 deployed to staging and found bad
# by a page check, staging rolled back to build 1, build 3 deployed to staging and promoted to prod by
# digest; then an older build refused in prod. Every step is a ca-consume-deploy command with a report.
set -euo pipefail
cd "$(dirname "$0")/.."
SANDBOX=${SANDBOX:-.sandbox-release}
OUT=${OUT:-out/demo-release}
mkdir -p "$OUT"
say() { printf '\n== %s\n' "$*"; }
cleanup() {
  say "tear down: sandbox"
  ca-sandbox down --dir "$SANDBOX"
}
trap cleanup EXIT

say "0. ca-sandbox up --docker (devpi, CodeArtifact stand-in, moto, registry, Docker engine); ca-publish the package"
ca-sandbox up --dir "$SANDBOX" --docker --free-ports >/dev/null
. "$SANDBOX/env.sh"
unset CA_STACK CA_IMAGE_NAME CA_TAG
ca-publish package_src --skip-existing >/dev/null

read -r VPC SUBNET_A SUBNET_B < <(python - <<'PY'
import boto3
ec2 = boto3.client("ec2")
vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
print(vpc, subnets[0]["SubnetId"], subnets[1]["SubnetId"])
PY
)
CONFIG="$OUT/jenkins-codeartifact.toml"
cat >"$CONFIG" <<TOML
template = "application_src/application.yml"
params = ["VPC=$VPC", "SubnetA=$SUBNET_A", "SubnetB=$SUBNET_B"]
registry = "$CA_REGISTRY"  # both repositories in the sandbox registry; promote reads --from from the file only
no_probe = true  # moto's load balancer has no address to GET

[environments.staging]
stack = "app-staging"
image_name = "app-staging"

[environments.prod]
stack = "app-prod"
image_name = "app-prod"
TOML
echo "environments: $CONFIG"
cd_() { ca-consume-deploy "$@" --config "$CONFIG"; }
field() { python -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, d))' "$@"; }
live() { python - "$1" <<'PY'
import sys, boto3
params = boto3.client("cloudformation").describe_stacks(StackName=sys.argv[1])["Stacks"][0]["Parameters"]
p = {x["ParameterKey"]: x["ParameterValue"] for x in params}
print(f"{sys.argv[1]}: ImageTag={p['ImageTag']} ImageDigest={p['ImageDigest']}")
PY
}

say "1. build 1 -> staging (all --env staging), then promote --from staging --to prod"
BUILD_NUMBER=1 cd_ all --env staging --context application_src --report "$OUT/1-staging.json"
cd_ promote --from staging --to prod --report "$OUT/1-prod.json"
live app-staging; live app-prod

say "2. build 2 -> staging: its smoke test (/healthz) passes, the page check after the deploy fails"
cp -r application_src "$OUT/app-2"
sed -i 's|return Response(body, mimetype="text/html")|return Response("broken\\n", status=500)|' "$OUT/app-2/application.py"
BUILD_NUMBER=2 cd_ all --env staging --context "$OUT/app-2" --report "$OUT/2-staging.json"
live app-staging
if cd_ smoke-test --env staging --tag 2 --smoke-path / --smoke-timeout 10 >/dev/null 2>"$OUT/2-page-check.log"; then
  echo "ERROR: the page check of build 2 passed" >&2; exit 1
fi
echo "page check of build 2: $(grep -m1 "ERROR: smoke test" "$OUT/2-page-check.log")"

say "3. ca-consume-deploy rollback --env staging (to the newest earlier healthy image: build 1)"
cd_ rollback --env staging --report "$OUT/3-rollback.json"
echo "rolled_back_from: $(field "$OUT/3-rollback.json" 'deploy["rolled_back_from"]')"
echo "rolled_back_to:   $(field "$OUT/3-rollback.json" 'deploy["rolled_back_to"]')"
live app-staging

say "4. build 3 -> staging, promoted to prod by digest (copied from app-staging to app-prod)"
BUILD_NUMBER=3 cd_ all --env staging --context application_src --report "$OUT/4-staging.json"
cd_ promote --from staging --to prod --report "$OUT/4-prod.json"
echo "copy: $(field "$OUT/4-prod.json" 'promote["copy"]')"
live app-staging; live app-prod
python - "$OUT/4-staging.json" "$OUT/4-prod.json" <<'PY'
import json, sys
staging, prod = (json.load(open(p)) for p in sys.argv[1:])
assert staging["deploy"]["image_digest"] == prod["deploy"]["image_digest"], "prod does not run staging's digest"
print("prod runs exactly staging's digest", prod["deploy"]["image_digest"])
PY

say "5. build 1 again to prod: refused (an older build than the live build 3), exit 3"
set +e
cd_ deploy --env prod --tag 1 --report "$OUT/5-downgrade.json" 2>"$OUT/5-downgrade.log"
code=$?
set -e
grep -m1 ERROR "$OUT/5-downgrade.log"
[ "$code" = 3 ] || { echo "ERROR: expected exit 3, got $code" >&2; exit 1; }
live app-prod
echo "reports: $OUT/*.json"
