"""The field ledger's refusals, sent: every member the ledgers refuse (scripts/ledger.py
--refused) is sent to a Flotilla server in a request of its operation, with botocore, and must be
refused with the service's error type and a message naming the member and saying it is not
supported yet.

The value sent for a member is built from botocore's model: the enum value the path names, or a
value that sets the member (true, a non-empty list or structure with its required members).

Usage: check_ledger.py --endpoint http://127.0.0.1:PORT --credentials DATA_DIR/credentials
       [--service ecs]
Exits 0 when every refusal held, 1 otherwise (each failure is listed).
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import re
import subprocess
import sys
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The error types a refusal may carry, per service (ECS's validation answers ClientException).
REFUSAL_CODES = {
    "ecs": {"InvalidParameterException", "ClientException"},
    "logs": {"InvalidParameterException"},
    "cloudwatch": {"InvalidParameterValue", "InvalidParameterCombination", "ValidationError"},
    "ec2": {"InvalidParameterValue"},
    "elbv2": {"ValidationError"},
    "acm": {"ValidationException"},
    "servicediscovery": {"InvalidInput"},
    "iam": {"ValidationError"},
    "sts": {"ValidationError"},
    "secretsmanager": {"InvalidParameterException"},
    # A refused ResourceType is answered as AWS answers one it does not know.
    "ssm": {"ValidationException", "InvalidResourceType"},
}


# Refusals the server makes only after ECS's own validation passed (a Fargate definition is
# checked as ECS checks it first): the rest of a valid request, laid over the refused path's.
VALID_REST: dict = {}


def value_of(shape, depth: int = 0) -> Any:
    """A value of `shape` that sets it: required members filled, lists and maps not empty."""
    kind = shape.type_name
    if kind == "structure":
        members = shape.members
        wanted = list(shape.required_members) or list(members)[:1]
        if depth > 6:
            return {}
        return {name: value_of(members[name], depth + 1) for name in wanted}
    if kind == "list":
        return [value_of(shape.member, depth + 1)]
    if kind == "map":
        return {"key": value_of(shape.value, depth + 1)}
    if kind == "boolean":
        return True
    if kind in ("integer", "long"):
        return 1
    if kind in ("double", "float"):
        return 1.0
    if kind == "timestamp":
        return 1_700_000_000
    if kind == "blob":
        return b"blob"
    if shape.enum:
        return shape.enum[0]
    return "x"


def request_with(input_shape, path: str) -> dict:
    """A request whose only content is `path` set (with the required members of each
    structure on the way)."""
    member_path, _, enum_value = path.partition("=")
    steps = re.findall(r"([^.\[\]{}]+)((?:\[\]|\{\})*)", member_path)
    root: dict = {}
    node, shape = root, input_shape
    for i, (name, suffixes) in enumerate(steps):
        member = shape.members[name]
        last = i == len(steps) - 1
        inner = member
        for suffix in re.findall(r"\[\]|\{\}", suffixes):
            inner = inner.member if suffix == "[]" else inner.value
        if last:
            leaf = enum_value if enum_value else value_of(inner)
        else:
            leaf = {k: value_of(inner.members[k]) for k in inner.required_members}
        wrapped: Any = leaf
        for suffix in reversed(re.findall(r"\[\]|\{\}", suffixes)):
            wrapped = [wrapped] if suffix == "[]" else {"key": wrapped}
        node[name] = wrapped
        if not last:
            node = leaf
            shape = inner
    return root


def read_credentials(path: str) -> tuple[str, str]:
    parser = configparser.ConfigParser()
    if not parser.read(path):
        raise SystemExit(f"cannot read credentials file {path}")
    section = parser["default"]
    return section["aws_access_key_id"], section["aws_secret_access_key"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--credentials", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--service", action="append", help="only these crates' ledgers")
    args = parser.parse_args()
    key = read_credentials(args.credentials)
    done = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "ledger.py"), "--refused"],
                          capture_output=True, text=True, check=True)
    refused = json.loads(done.stdout)
    session = botocore.session.get_session()
    failures, sent = [], 0
    for crate, operations in refused.items():
        if args.service and crate not in args.service:
            continue
        service = {"ecs": "ecs", "logs": "logs", "cloudwatch": "cloudwatch", "ec2": "ec2", "elbv2": "elbv2", "acm": "acm",
                   "servicediscovery": "servicediscovery", "iam": "iam", "sts": "sts",
                   "secretsmanager": "secretsmanager", "ssm": "ssm"}[crate]
        client = session.create_client(
            service, endpoint_url=args.endpoint, region_name=args.region,
            aws_access_key_id=key[0], aws_secret_access_key=key[1],
            config=Config(parameter_validation=False, retries={"total_max_attempts": 1}),
        )
        model = client.meta.service_model
        for op, paths in operations.items():
            operation = model.operation_model(op)
            method = getattr(client, re.sub(r"(?<!^)(?=[A-Z])", "_", op).lower())
            for path in paths:
                request = {**request_with(operation.input_shape, path),
                           **VALID_REST.get((op, path), {})}
                sent += 1
                try:
                    method(**request)
                    failures.append(f"{crate} {op}: {path} was accepted ({request})")
                    continue
                except ClientError as error:
                    code = error.response["Error"]["Code"]
                    message = error.response["Error"].get("Message", "")
                member = path.partition("=")[0]
                value = path.partition("=")[2]
                if code not in REFUSAL_CODES[crate] or "not supported yet" not in message \
                        or member not in message or (value and value not in message):
                    failures.append(f"{crate} {op}: {path}: {code}: {message} ({request})")
    for failure in failures:
        print(failure)
    print(f"{sent} refused members sent, {len(failures)} not refused as the ledger says")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
