#!/usr/bin/env bash
# `make demo`: the walkthrough's whole journey on local stand-ins, no AWS account needed, driven through
# the two Jenkins jobs as specified in jenkins/jobs (`jobsync run` runs them the way Jenkins would):
#   producer job (publish package_src) -> pip install it from the index -> consumer job (build the image
#   against the index, smoke-test, push, deploy to moto's CloudFormation) -> the producer again, unbumped
#   (passes, uploads nothing) -> the same image on the local target -> the page.
# The jobs check out this repository's committed HEAD (--checkout .), as Jenkins would see it.
set -euo pipefail
cd "$(dirname "$0")/.."
SANDBOX=${SANDBOX:-.sandbox}
OUT=${OUT:-out/demo}
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

# Jenkins' credentials store, as jobsync run reads it: the jobs' `aws` id, in a file only we can read.
# The builds get the keys only through their bindings (`env -u` below), masked as **** in the console.
CREDS="$OUT/credentials.yml"
(umask 077 && printf 'aws:\n  username: "%s"\n  password: "%s"\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$CREDS")
export CA_CREDENTIALS_FILE="$CREDS" CA_STATE_DIR="$OUT/jobsync"
job() { env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY jobsync run "$@" --checkout .; }
number() { python -c 'import json, sys; print(json.load(open(sys.argv[1]))["number"])' "$1"; }

say "1. jobsync run producer   (the freestyle job: ca-publish package_src --skip-existing)"
job producer --report "$OUT/producer.json"

say "2. a consumer installs fantastic-ascii from the index with pip (token via the environment, never argv)"
python3 -m venv "$OUT/venv"
python - "$OUT/venv" <<'PY'
import os, subprocess, sys
from jenkins_codeartifact import config, settings
from jenkins_codeartifact.index import resolve_index
index = resolve_index(config.load())
env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
env.update(PIP_INDEX_URL=index.pip_index_url(), PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
subprocess.run([f"{sys.argv[1]}/bin/pip", "install", "-q", "fantastic-ascii==1.0.0"], env=env, check=True)
PY
"$OUT/venv/bin/python" -c 'import fantastic_ascii; print(fantastic_ascii.frame("installed from the index"))'

say "3. jobsync run consumer   (the pipeline: Build, Smoke test, Push, Deploy to CloudFormation; tag = BUILD_NUMBER)"
read -r VPC SUBNET_A SUBNET_B < <(python - <<'PY'
import boto3
ec2 = boto3.client("ec2")
vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
print(vpc, subnets[0]["SubnetId"], subnets[1]["SubnetId"])
PY
)
# what the agent's environment would carry for the Deploy stage (the stack's network parameters); moto's
# load balancer has no address to GET, so the post-deploy probe is skipped here (the local target's is not)
CA_PARAMS="VPC=$VPC;SubnetA=$SUBNET_A;SubnetB=$SUBNET_B" CA_NO_PROBE=1 job consumer --report "$OUT/consumer.json"
TAG=$(number "$OUT/consumer.json")
python - "$TAG" <<'PY'
import sys, boto3
params = boto3.client("cloudformation").describe_stacks(StackName="consumer")["Stacks"][0]["Parameters"]
tag = {p["ParameterKey"]: p["ParameterValue"] for p in params}["ImageTag"]
print(f"stack 'consumer' ImageTag = {tag} (the consumer build's BUILD_NUMBER)")
assert tag == sys.argv[1], "the stack's ImageTag is not the consumer build's number"
PY

say "4. jobsync run producer again   (version unchanged: the build passes and uploads nothing)"
job producer --report "$OUT/producer-again.json" | tee "$OUT/producer-again.log"
grep -q "nothing uploaded" "$OUT/producer-again.log"

say "5. ca-consume-deploy deploy --target local --tag $TAG   (the same pushed image, as a long-lived container)"
PORT=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ca-consume-deploy deploy --target local --tag "$TAG" --local-port "$PORT"
say "curl http://127.0.0.1:$PORT/"
curl -fsS "http://127.0.0.1:$PORT/"
echo
if grep -qF "$AWS_SECRET_ACCESS_KEY" "$OUT"/jobsync/jobs/*/builds/*/log; then
  echo "ERROR: a credential value appears in a console log" >&2
  exit 1
fi
echo "console logs: $OUT/jobsync/jobs/*/builds/*/log (credentials masked)"
