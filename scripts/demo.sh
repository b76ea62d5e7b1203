#!/usr/bin/env bash
# `make demo`: the walkthrough's whole journey on local stand-ins, no AWS account needed.
#   publish package_src -> pip install it from the index -> build the consumer image against the index
#   -> smoke-test -> push to the registry -> deploy to (moto's) CloudFormation and to a local container.
set -euo pipefail
cd "$(dirname "$0")/.."
SANDBOX=${SANDBOX:-.sandbox}
OUT=${OUT:-out/demo}
TAG=${TAG:-demo-$(date +%s)}
mkdir -p "$OUT"
say() { printf '\n== %s\n' "$*"; }
cleanup() {
  say "tear down: local container, sandbox"
  ca-consume-deploy teardown --target local --image-name application >/dev/null 2>&1 || true
  ca-sandbox down --dir "$SANDBOX"
}
trap cleanup EXIT

say "0. ca-sandbox up --docker: devpi (PyPI mirror), CodeArtifact stand-in, moto, registry, Docker engine, base image"
ca-sandbox up --dir "$SANDBOX" --docker --free-ports >/dev/null
# shellcheck disable=SC1091
. "$SANDBOX/env.sh"
echo "CodeArtifact API: $AWS_ENDPOINT_URL_CODEARTIFACT  registry: $CA_REGISTRY  base image: $CA_BASE_IMAGE"

say "1. ca-publish package_src   (the 'producer' freestyle job)"
ca-publish package_src --skip-existing --report "$OUT/publish.json"

say "2. a consumer installs fantastic-ascii from the index with pip (token via the environment, never argv)"
python3 -m venv "$OUT/venv"
python - "$OUT/venv" <<'PY'
import os, subprocess, sys
from jenkins_codeartifact import index as codeartifact, settings
index = codeartifact.resolve_index(settings.load())
env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
env.update(PIP_INDEX_URL=index.pip_index_url(), PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
subprocess.run([f"{sys.argv[1]}/bin/pip", "install", "-q", "fantastic-ascii==1.0.0"], env=env, check=True)
PY
"$OUT/venv/bin/python" -c 'import fantastic_ascii; print(fantastic_ascii.frame("installed from the index"))'

say "3. ca-consume-deploy all   (the 'consumer' pipeline: build, smoke-test, push, deploy to CloudFormation)"
read -r VPC SUBNET_A SUBNET_B < <(python - <<'PY'
import boto3
ec2 = boto3.client("ec2")
vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
print(vpc, subnets[0]["SubnetId"], subnets[1]["SubnetId"])
PY
)
ca-consume-deploy all --context application_src --tag "$TAG" --stack consumer \
  --template application_src/application.yml \
  --param "VPC=$VPC" --param "SubnetA=$SUBNET_A" --param "SubnetB=$SUBNET_B" --report "$OUT/deploy.json"
python - "$TAG" <<'PY'
import sys, boto3
params = boto3.client("cloudformation").describe_stacks(StackName="consumer")["Stacks"][0]["Parameters"]
tag = {p["ParameterKey"]: p["ParameterValue"] for p in params}["ImageTag"]
print(f"stack 'consumer' ImageTag = {tag}")
assert tag == sys.argv[1], "the stack's ImageTag is not the new tag"
PY

say "4. ca-consume-deploy deploy --target local   (the same pushed image, as a long-lived container)"
PORT=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ca-consume-deploy deploy --target local --tag "$TAG" --local-port "$PORT"
say "curl http://127.0.0.1:$PORT/"
curl -fsS "http://127.0.0.1:$PORT/"
echo
