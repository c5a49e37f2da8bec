"""Conformance check: drives a Flotilla server with a real botocore ECS client and validates every
raw JSON response body against botocore's ECS service model.

For every HTTP answer (caught with botocore's `before-parse` event, before botocore's lenient
parser sees it) it checks, recursively against the operation's output shape: JSON types per shape
type, enum values, min/max bounds, required members, and that no member is unknown to the shape
(an SDK with a strict parser would choke on it, a lenient one would silently drop it). Error answers
must carry `__type` and `message`, with a code the operation models or a protocol-level one.
Every operation of the model that the server does not implement must answer HTTP 400
UnknownOperationException.

Usage: check_ecs_model.py --endpoint http://127.0.0.1:PORT --credentials DATA_DIR/credentials
Exits 0 when no violation was found, 1 otherwise (each violation is listed), 2 on a setup error.
"""

from __future__ import annotations

import argparse
import base64
import configparser
import copy
import json
import os
import re
import subprocess
import sys
import uuid
from typing import Any, Callable

try:
    import botocore.session
    from botocore import xform_name
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.config import Config
    from botocore.credentials import Credentials
    from botocore.httpsession import URLLib3Session
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # pragma: no cover - the Rust test checks this first, with a clearer message
    print("botocore is not installed: run `pip install botocore`", file=sys.stderr)
    sys.exit(2)

# The operations the server implements. Every other operation of the model must answer
# UnknownOperationException; when the server grows an operation, add it here and exercise it below.
# Served, but with nothing yet to answer but an error: Cloud Map namespaces come with service
# discovery, so every namespace is unknown (checked for its error, not for a success).
ANSWERED_WITH_ERRORS = {"ListServicesByNamespace"}

IMPLEMENTED = {
    "CreateTaskSet",
    "UpdateTaskSet",
    "DeleteTaskSet",
    "DescribeTaskSets",
    "UpdateServicePrimaryTaskSet",
    "GetTaskProtection",
    "UpdateTaskProtection",
    "DiscoverPollEndpoint",
    "CreateCapacityProvider",
    "DescribeCapacityProviders",
    "UpdateCapacityProvider",
    "DeleteCapacityProvider",
    "PutClusterCapacityProviders",
    "CreateCluster",
    "DescribeClusters",
    "ListClusters",
    "UpdateCluster",
    "UpdateClusterSettings",
    "DeleteCluster",
    "RegisterTaskDefinition",
    "DescribeTaskDefinition",
    "ListTaskDefinitions",
    "ListTaskDefinitionFamilies",
    "DeregisterTaskDefinition",
    "DeleteTaskDefinitions",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
    "PutAccountSetting",
    "PutAccountSettingDefault",
    "ListAccountSettings",
    "DeleteAccountSetting",
    "RunTask",
    "StartTask",
    "StopTask",
    "DescribeTasks",
    "ListTasks",
    "DescribeContainerInstances",
    "ListContainerInstances",
    "UpdateContainerInstancesState",
    "DeregisterContainerInstance",
    "PutAttributes",
    "DeleteAttributes",
    "ListAttributes",
    "CreateService",
    "UpdateService",
    "DeleteService",
    "DescribeServices",
    "ListServices",
}

# Error codes any AWS JSON 1.1 operation may answer, modeled or not.
COMMON_ERRORS = {
    "UnknownOperationException",
    "SerializationException",
    "InvalidSignatureException",
    "IncompleteSignatureException",
    "MissingAuthenticationTokenException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "AccessDeniedException",
    "ExpiredTokenException",
    "RequestExpired",
    "ThrottlingException",
    "RequestEntityTooLargeException",
    "ValidationException",
    "InternalFailure",
    "ServiceUnavailable",
}

JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)



def refused_paths() -> dict[str, list[str]]:
    """The members ECS's field ledger refuses, per operation (scripts/ledger.py)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run([sys.executable, os.path.join(root, "scripts", "ledger.py"), "--refused"],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)["ecs"]


def without(params: dict, paths: list[str]) -> dict:
    """`params` without the members (and enum values) of `paths`, in the ledger's path syntax."""
    out = copy.deepcopy(params)
    for path in paths:
        _remove(out, path)
    return out


def _remove(obj: Any, path: str) -> None:
    name, rest = re.match(r"([^.\[{=]+)(.*)", path).groups()
    if not isinstance(obj, dict) or name not in obj:
        return
    if rest == "":
        del obj[name]
    elif rest.startswith("[]="):
        obj[name] = [item for item in obj[name] if item != rest[3:]]
    elif rest.startswith("="):
        if obj[name] == rest[1:]:
            del obj[name]
    elif rest.startswith("[]."):
        for item in obj[name]:
            _remove(item, rest[3:])
    elif rest.startswith("{}."):
        for item in obj[name].values():
            _remove(item, rest[3:])
    elif rest.startswith("."):
        _remove(obj[name], rest[1:])

class Conformance:
    """Collects violations; validates each raw response as botocore receives it."""

    def __init__(self, model) -> None:
        self.model = model
        self.violations: list[str] = []
        self.responses: dict[str, int] = {}
        self.successes: dict[str, int] = {}
        # The last answer seen, for the scenario's expectations: (operation, status, body).
        self.last: tuple[str, int, Any] | None = None

    def violation(self, where: str, message: str) -> None:
        self.violations.append(f"{where}: {message}")

    # -- the botocore hook -------------------------------------------------------------------

    def before_parse(self, operation_model, response_dict, **_kwargs) -> None:
        """`before-parse` handler: sees the raw status, headers and body of every answer."""
        op = operation_model.name
        try:
            self._check_response(operation_model, response_dict)
        except Exception as error:  # a bug here must not hide as a botocore failure
            self.violation(op, f"checker crashed on the response: {error!r}")

    def _check_response(self, operation_model, response_dict) -> None:
        op = operation_model.name
        self.responses[op] = self.responses.get(op, 0) + 1
        status = response_dict["status_code"]
        headers = {k.lower(): v for k, v in response_dict["headers"].items()}
        raw = response_dict["body"]
        where = f"{op} (HTTP {status})"
        try:
            body = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            self.violation(where, f"body is not JSON ({error}): {raw[:200]!r}")
            self.last = (op, status, None)
            return
        self.last = (op, status, body)
        content_type = headers.get("content-type", "")
        if content_type.split(";")[0].strip() != JSON_CONTENT_TYPE:
            self.violation(where, f"Content-Type is {content_type!r}, expected {JSON_CONTENT_TYPE}")
        if not headers.get("x-amzn-requestid"):
            self.violation(where, "no x-amzn-RequestId header")
        if not isinstance(body, dict):
            self.violation(where, f"body must be a JSON object, got {raw[:200]!r}")
            return
        if 200 <= status < 300:
            self.successes[op] = self.successes.get(op, 0) + 1
            if operation_model.output_shape is not None:
                self.validate(operation_model.output_shape, body, op)
            elif body:
                self.violation(where, f"operation has no output, but the body is {raw[:200]!r}")
        else:
            self._check_error(operation_model, status, body, where)

    def _check_error(self, operation_model, status: int, body: dict, where: str) -> None:
        code = body.get("__type")
        if not isinstance(code, str) or not code:
            self.violation(where, f"error body has no string __type: {body!r}")
            return
        # botocore accepts "namespace#Code" and "Code:extra"; report the bare code.
        code = code.rsplit("#", 1)[-1].split(":", 1)[0]
        if not isinstance(body.get("message"), str):
            self.violation(where, f"error body has no string 'message': {body!r}")
        modeled = {shape.name: shape for shape in operation_model.error_shapes}
        if code in modeled:
            shape = modeled[code]
            rest = {k: v for k, v in body.items() if k != "__type"}
            # Any AWS JSON error may carry a message, modeled or not (CloudWatch Logs' errors
            # model no members at all).
            if "message" not in shape.members:
                rest.pop("message", None)
            self.validate(shape, rest, f"{operation_model.name}!{code}")
            expected = shape.metadata.get("error", {}).get("httpStatusCode")
            if expected is not None and expected != status:
                self.violation(where, f"{code} is modeled with HTTP {expected}")
        elif code not in COMMON_ERRORS:
            self.violation(
                where,
                f"error code {code!r} is neither modeled for this operation "
                f"({', '.join(sorted(modeled))}) nor a common AWS JSON error",
            )
        fault = code in modeled and modeled[code].metadata.get("fault", False)
        if code == "ServerException" or code in ("InternalFailure", "ServiceUnavailable") or fault:
            if status < 500:
                self.violation(where, f"server-side error {code} with a 4xx status")
        elif not 400 <= status < 500:
            self.violation(where, f"client error {code} must have a 4xx status")

    # -- the shape validator -----------------------------------------------------------------

    def validate(self, shape, value: Any, path: str) -> None:
        """Checks `value` (parsed JSON) against botocore shape `shape`; `path` names it."""
        kind = shape.type_name
        if value is None:
            self.violation(path, f"null where the model wants {kind} {shape.name} (omit it)")
            return
        if kind == "structure":
            self._validate_structure(shape, value, path)
        elif kind == "list":
            if not isinstance(value, list):
                self._wrong_type(shape, value, path, "a JSON array")
                return
            self._check_size(shape, len(value), path, "entries")
            for i, item in enumerate(value):
                self.validate(shape.member, item, f"{path}[{i}]")
        elif kind == "map":
            if not isinstance(value, dict):
                self._wrong_type(shape, value, path, "a JSON object")
                return
            self._check_size(shape, len(value), path, "entries")
            for key, item in value.items():
                self.validate(shape.key, key, f"{path}{{key {key!r}}}")
                self.validate(shape.value, item, f"{path}[{key!r}]")
        elif kind == "string":
            if not isinstance(value, str):
                self._wrong_type(shape, value, path, "a JSON string")
                return
            enum = shape.enum
            if enum and value not in enum:
                self.violation(path, f"{value!r} is not a value of enum {shape.name} {list(enum)}")
            self._check_size(shape, len(value), path, "characters")
        elif kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                self._wrong_type(shape, value, path, "a JSON integer")
                return
            low, high = INT32 if kind == "integer" else INT64
            if not low <= value <= high:
                self.violation(path, f"{value} overflows {kind} {shape.name}")
            self._check_range(shape, value, path)
        elif kind in ("float", "double"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self._wrong_type(shape, value, path, "a JSON number")
                return
            self._check_range(shape, value, path)
        elif kind == "boolean":
            if not isinstance(value, bool):
                self._wrong_type(shape, value, path, "a JSON boolean")
        elif kind == "timestamp":
            fmt = shape.serialization.get("timestampFormat", "unixTimestamp")
            if fmt == "unixTimestamp":
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    self._wrong_type(shape, value, path, "epoch seconds as a JSON number")
            elif not isinstance(value, str):
                self._wrong_type(shape, value, path, f"a {fmt} JSON string")
        elif kind == "blob":
            if not isinstance(value, str):
                self._wrong_type(shape, value, path, "a base64 JSON string")
                return
            try:
                base64.b64decode(value, validate=True)
            except ValueError:
                self.violation(path, "blob is not valid base64")
        else:
            self.violation(path, f"the checker does not know shape type {kind!r}")

    def _validate_structure(self, shape, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            self._wrong_type(shape, value, path, "a JSON object")
            return
        if shape.metadata.get("document"):
            return  # any JSON value
        wire = {m.serialization.get("name", name): m for name, m in shape.members.items()}
        for key, item in value.items():
            member = wire.get(key)
            if member is None:
                self.violation(
                    f"{path}.{key}",
                    f"member unknown to structure {shape.name} "
                    f"(known: {', '.join(sorted(wire)) or 'none'})",
                )
            else:
                self.validate(member, item, f"{path}.{key}")
        for name in shape.required_members:
            key = shape.members[name].serialization.get("name", name)
            if key not in value:
                self.violation(f"{path}.{key}", f"required member of {shape.name} is missing")
        if shape.metadata.get("union") and len(value) != 1:
            self.violation(path, f"union {shape.name} must set exactly one member")

    def _wrong_type(self, shape, value: Any, path: str, wanted: str) -> None:
        shown = json.dumps(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        self.violation(path, f"{shape.type_name} {shape.name} must be {wanted}, got {shown}")

    def _check_size(self, shape, size: int, path: str, unit: str) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and size < low:
            self.violation(path, f"{size} {unit}, but {shape.name} has min {low}")
        if high is not None and size > high:
            self.violation(path, f"{size} {unit}, but {shape.name} has max {high}")

    def _check_range(self, shape, value: float, path: str) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and value < low:
            self.violation(path, f"{value} is below {shape.name}'s min {low}")
        if high is not None and value > high:
            self.violation(path, f"{value} is above {shape.name}'s max {high}")


class ModelScenario:
    """What each check's scenario starts from: a botocore client of `SERVICE` that validates its
    parameters and one that does not (for inputs botocore would refuse to send), every answer
    handed to `check` before botocore parses it."""

    SERVICE = "ecs"
    # More botocore Config options of the service's clients.
    EXTRA_CONFIG: dict = {}

    def __init__(self, session, check: Conformance, endpoint: str, key: tuple[str, str],
                 region: str):
        self.refused = refused_paths()
        self.check = check
        self.region = region
        self.endpoint = endpoint
        self.key = key
        self.session = session
        self.client = self._client(key, validate=True)
        self.raw = self._client(key, validate=False)
        self.suffix = uuid.uuid4().hex[:8]

    def _client(self, key: tuple[str, str], validate: bool):
        client = self.session.create_client(
            self.SERVICE,
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=key[0],
            aws_secret_access_key=key[1],
            config=Config(
                parameter_validation=validate,
                retries={"total_max_attempts": 1},
                connect_timeout=5,
                read_timeout=30,
                **self.EXTRA_CONFIG,
            ),
        )
        client.meta.events.register(f"before-parse.{self.SERVICE}.*", self.check.before_parse)
        return client

    def call(self, op: str, client=None, **params) -> dict | None:
        """Calls `op`, which must succeed; returns the parsed response (None on failure)."""
        client = client or self.client
        self.check.last = None
        try:
            return getattr(client, xform_name(op))(**params)
        except ClientError as error:
            err = error.response.get("Error", {})
            self.check.violation(
                op,
                f"expected success, got {err.get('Code')}: {err.get('Message')} (input {params})",
            )
        except (BotoCoreError, OSError) as error:
            self.check.violation(op, f"no HTTP answer: {error!r}")
        return None

    def fail(self, op: str, codes: set[str], client=None, **params) -> None:
        """Calls `op`, which must fail with one of `codes`."""
        client = client or self.raw
        self.check.last = None
        try:
            getattr(client, xform_name(op))(**params)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code not in codes:
                self.check.violation(
                    op, f"expected {' or '.join(sorted(codes))}, got {code} (input {params})"
                )
            return
        except (BotoCoreError, OSError) as error:
            self.check.violation(op, f"no HTTP answer: {error!r}")
            return
        self.check.violation(op, f"expected {' or '.join(sorted(codes))}, got success ({params})")

    def expect(self, op: str, condition: bool, message: str) -> None:
        if not condition:
            self.check.violation(op, message)

    def paginate(self, op: str, **params) -> list[dict]:
        pages: list[dict] = []
        try:
            for page in self.client.get_paginator(xform_name(op)).paginate(**params):
                pages.append(page)
        except ClientError as error:
            err = error.response.get("Error", {})
            self.check.violation(op, f"paginating: {err.get('Code')}: {err.get('Message')}")
        except (BotoCoreError, OSError) as error:
            self.check.violation(op, f"paginating: no HTTP answer: {error!r}")
        return pages


class Scenario(ModelScenario):
    """Calls the operations with realistic inputs and checks what each call should do."""

    # -- tasks and container instances (needs a connected agent in `cluster`) ---------------

    def tasks(self, cluster: str) -> None:
        import time

        listed = self.call("ListContainerInstances", cluster=cluster)
        arns = (listed or {}).get("containerInstanceArns", [])
        self.expect("ListContainerInstances", len(arns) == 1, f"one instance expected in {cluster}: {arns}")
        if not arns:
            return
        instance = arns[0]
        self.call("DescribeContainerInstances", cluster=cluster, containerInstances=[instance, "nope"],
                  include=["TAGS"])
        self.call("PutAttributes", cluster=cluster,
                  attributes=[{"name": "conformance", "value": "yes", "targetId": instance}])
        self.call("ListAttributes", cluster=cluster, targetType="container-instance", attributeName="conformance")
        self.call("ListAttributes", cluster=cluster, targetType="container-instance", maxResults=2)
        self.call("DeleteAttributes", cluster=cluster, attributes=[{"name": "conformance", "targetId": instance}])
        self.call("ListContainerInstances", cluster=cluster, filter="attribute:ecs.os-type == linux")
        family = f"conf-tasks-{self.suffix}"
        self.call("RegisterTaskDefinition", family=family, containerDefinitions=[{
            "name": "web", "image": "flotilla/demo:latest", "memory": 32, "essential": True,
            "portMappings": [{"containerPort": 8080}],
            "command": ["serve"],
        }])
        run = self.call("RunTask", cluster=cluster, taskDefinition=family, count=2, startedBy="conformance",
                        overrides={"containerOverrides": [{"name": "web", "environment": [{"name": "A", "value": "1"}]}]})
        tasks = [t["taskArn"] for t in (run or {}).get("tasks", [])]
        deadline = time.time() + 30
        while tasks and time.time() < deadline:
            described = self.call("DescribeTasks", cluster=cluster, tasks=tasks, include=["TAGS"]) or {}
            if all(t.get("lastStatus") == "RUNNING" for t in described.get("tasks", [])):
                break
            time.sleep(0.2)
        self.call("DescribeTasks", cluster=cluster, tasks=tasks + ["0" * 32])
        self.call("ListTasks", cluster=cluster, startedBy="conformance")
        self.call("ListTasks", cluster=cluster, family=family, containerInstance=instance, maxResults=1)
        self.call("ListTasks", cluster=cluster, desiredStatus="STOPPED")
        self.fail("ListTasks", {"InvalidParameterException"}, cluster=cluster, desiredStatus="SIDEWAYS")
        self.fail("RunTask", {"InvalidParameterException"}, cluster=cluster, taskDefinition=family, count=11)
        self.fail("RunTask", {"ClientException"}, cluster=cluster, taskDefinition="conf-no-such-family")
        started = self.call("StartTask", cluster=cluster, taskDefinition=family, containerInstances=[instance])
        tasks += [t["taskArn"] for t in (started or {}).get("tasks", [])]
        self.call("UpdateContainerInstancesState", cluster=cluster, containerInstances=[instance],
                  status="DRAINING")
        self.call("UpdateContainerInstancesState", cluster=cluster, containerInstances=[instance, "nope"],
                  status="ACTIVE")
        for task in tasks:
            self.call("StopTask", cluster=cluster, task=task, reason="conformance done")
        self.fail("StopTask", {"InvalidParameterException"}, cluster=cluster, task="0" * 32)
        self.fail("DeregisterContainerInstance", {"InvalidParameterException"}, cluster=cluster,
                  containerInstance="0" * 32)
        self.services(cluster, family)
        self.call("DeregisterContainerInstance", cluster=cluster, containerInstance=instance, force=True)

    def services(self, cluster: str, family: str) -> None:
        import time

        name = f"conf-svc-{self.suffix}"
        self.call("CreateService", cluster=cluster, serviceName=name, taskDefinition=family, desiredCount=1,
                  deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True},
                                           "maximumPercent": 200, "minimumHealthyPercent": 50},
                  healthCheckGracePeriodSeconds=5, tags=[{"key": "k", "value": "v"}])
        self.fail("CreateService", {"InvalidParameterException"}, cluster=cluster, serviceName=name,
                  taskDefinition=family, desiredCount=1)
        deadline = time.time() + 30
        while time.time() < deadline:
            described = self.call("DescribeServices", cluster=cluster, services=[name], include=["TAGS"]) or {}
            services = described.get("services", [])
            if services and services[0].get("runningCount") == 1:
                break
            time.sleep(0.3)
        self.call("DescribeServices", cluster=cluster, services=[name, "conf-missing"])
        listed = self.call("ListTasks", cluster=cluster, serviceName=name) or {}
        tasks = listed.get("taskArns", [])
        if tasks:
            self.call("UpdateTaskProtection", cluster=cluster, tasks=tasks + ["0" * 32],
                      protectionEnabled=True, expiresInMinutes=5)
            self.call("GetTaskProtection", cluster=cluster, tasks=tasks)
            self.call("UpdateTaskProtection", cluster=cluster, tasks=tasks, protectionEnabled=False)
        self.call("ListServices", cluster=cluster, schedulingStrategy="REPLICA", maxResults=5)
        self.call("UpdateService", cluster=cluster, service=name, desiredCount=2, forceNewDeployment=True)
        self.fail("UpdateService", {"ServiceNotFoundException"}, cluster=cluster, service="conf-missing")
        self.fail("DeleteService", {"InvalidParameterException"}, cluster=cluster, service=name)
        self.call("DeleteService", cluster=cluster, service=name, force=True)

    # -- account settings --------------------------------------------------------------------

    def account_settings(self) -> None:
        r = self.call("PutAccountSettingDefault", name="containerInsights", value="enabled")
        principal = (r or {}).get("setting", {}).get("principalArn")
        # Settings that govern what this server does not have are refused (the field ledger).
        self.fail("PutAccountSettingDefault", {"InvalidParameterException"},
                  name="fargateTaskRetirementWaitPeriod", value="14")
        self.fail("PutAccountSettingDefault", {"InvalidParameterException"},
                  name="defaultLogDriverMode", value="non-blocking")
        self.call("PutAccountSetting", name="serviceLongArnFormat", value="enabled")
        self.call("PutAccountSettingDefault", name="taskLongArnFormat", value="enabled")
        self.fail("PutAccountSetting", {"InvalidParameterException"},
                  name="awsvpcTrunking", value="enabled")
        if principal:
            self.call(
                "PutAccountSetting", name="containerInstanceLongArnFormat", value="enabled",
                principalArn=principal,
            )
            self.call("ListAccountSettings", principalArn=principal)
        self.call("ListAccountSettings")
        r = self.call("ListAccountSettings", effectiveSettings=True)
        self.expect(
            "ListAccountSettings",
            r is not None and len(r.get("settings", [])) >= 5,
            "effectiveSettings=true lists fewer than 5 settings",
        )
        self.call("ListAccountSettings", name="containerInsights", effectiveSettings=True)
        self.call("ListAccountSettings", value="enabled", effectiveSettings=True)
        pages = self.paginate(
            "ListAccountSettings", effectiveSettings=True, PaginationConfig={"PageSize": 3}
        )
        self.expect("ListAccountSettings", len(pages) >= 2, "PageSize 3 gave a single page")
        self.call("DeleteAccountSetting", name="serviceLongArnFormat")
        self.fail("DeleteAccountSetting", {"ClientException", "InvalidParameterException"},
                  name="serviceLongArnFormat")
        self.fail("PutAccountSetting", {"InvalidParameterException", "ClientException"},
                  name="noSuchSetting", value="enabled")
        self.fail("PutAccountSettingDefault", {"InvalidParameterException", "ClientException"},
                  name="containerInsights", value="sometimes")
        self.fail("ListAccountSettings", {"InvalidParameterException", "ClientException"},
                  nextToken="not-a-token")

    # -- clusters ----------------------------------------------------------------------------

    def task_sets(self) -> None:
        """The EXTERNAL deployment controller's task sets (no agent needed: nothing places)."""
        s = self.suffix
        cluster = f"conf-ts-{s}"
        family = f"conf-ts-{s}"
        self.call("CreateCluster", clusterName=cluster)
        self.call("RegisterTaskDefinition", family=family,
                  containerDefinitions=[{"name": "app", "image": "busybox", "memory": 32}])
        self.call("CreateService", cluster=cluster, serviceName="ext", desiredCount=2,
                  deploymentController={"type": "EXTERNAL"})
        created = self.call("CreateTaskSet", cluster=cluster, service="ext", taskDefinition=family,
                            externalId="conf", launchType="EC2",
                            scale={"value": 50.0, "unit": "PERCENT"}, clientToken=f"tok-{s}",
                            tags=[{"key": "k", "value": "v"}]) or {}
        set_id = created.get("taskSet", {}).get("id", "missing")
        self.call("DescribeTaskSets", cluster=cluster, service="ext")
        self.call("DescribeTaskSets", cluster=cluster, service="ext", taskSets=[set_id, "ecs-svc/0"],
                  include=["TAGS"])
        self.call("UpdateTaskSet", cluster=cluster, service="ext", taskSet=set_id,
                  scale={"value": 0.0, "unit": "PERCENT"})
        self.call("UpdateServicePrimaryTaskSet", cluster=cluster, service="ext", primaryTaskSet=set_id)
        self.call("DescribeServices", cluster=cluster, services=["ext"])
        self.fail("UpdateTaskSet", {"TaskSetNotFoundException"}, cluster=cluster, service="ext",
                  taskSet="ecs-svc/0", scale={"value": 1.0, "unit": "PERCENT"})
        self.call("DeleteTaskSet", cluster=cluster, service="ext", taskSet=set_id, force=True)
        self.call("DeleteService", cluster=cluster, service="ext", force=True)

    def everyday(self) -> None:
        """DiscoverPollEndpoint and ListServicesByNamespace (task protection: in `tasks`)."""
        self.call("DiscoverPollEndpoint")
        self.call("DiscoverPollEndpoint", cluster="default")
        self.fail("ListServicesByNamespace", {"NamespaceNotFoundException"}, namespace="conformance")

    def capacity_providers(self) -> None:
        s = self.suffix
        name = f"conf-cp-{s}"
        group = f"arn:aws:autoscaling:{self.region}:123456789012:autoScalingGroup:0a1b:autoScalingGroupName/{name}"
        rich = dict(
            name=name,
            autoScalingGroupProvider={
                "autoScalingGroupArn": group,
                "managedScaling": {"status": "DISABLED", "targetCapacity": 90,
                                   "minimumScalingStepSize": 1, "maximumScalingStepSize": 10,
                                   "instanceWarmupPeriod": 60},
                "managedTerminationProtection": "DISABLED",
                "managedDraining": "DISABLED",
            },
            tags=[{"key": "team", "value": "platform"}],
        )
        self.call("CreateCapacityProvider", **rich)
        self.fail("CreateCapacityProvider", {"ClientException"}, **rich)  # exists
        self.call("DescribeCapacityProviders")
        self.call("DescribeCapacityProviders", capacityProviders=[name, "FARGATE", "nope"],
                  include=["TAGS"])
        self.call("DescribeCapacityProviders", maxResults=1)
        self.call("UpdateCapacityProvider", name=name, autoScalingGroupProvider={
            "managedScaling": {"status": "DISABLED", "targetCapacity": 80}})
        cluster = f"conf-cp-cluster-{s}"
        self.call("CreateCluster", clusterName=cluster)
        self.call("PutClusterCapacityProviders", cluster=cluster, capacityProviders=[name, "FARGATE"],
                  defaultCapacityProviderStrategy=[{"capacityProvider": name, "base": 1, "weight": 1}])
        self.call("DescribeClusters", clusters=[cluster])
        self.fail("DeleteCapacityProvider", {"ClientException"}, capacityProvider=name)  # in use
        self.call("PutClusterCapacityProviders", cluster=cluster, capacityProviders=[],
                  defaultCapacityProviderStrategy=[])
        self.call("DeleteCapacityProvider", capacityProvider=name)
        self.call("DeleteCluster", cluster=cluster)

    def clusters(self) -> None:
        s = self.suffix
        name = f"conformance-{s}"
        tags = [{"key": "team", "value": "platform"}, {"key": "env", "value": "test"}]
        rich = dict(
            clusterName=name,
            tags=tags,
            settings=[{"name": "containerInsights", "value": "enhanced"}],
            configuration={
                "executeCommandConfiguration": {
                    "kmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/1234abcd",
                    "logging": "OVERRIDE",
                    "logConfiguration": {
                        "cloudWatchLogGroupName": "/ecs/exec",
                        "cloudWatchEncryptionEnabled": True,
                        "s3BucketName": "exec-logs",
                        "s3EncryptionEnabled": True,
                        "s3KeyPrefix": "exec/",
                    },
                },
                "managedStorageConfiguration": {
                    "kmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/5678efgh",
                    "fargateEphemeralStorageKmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/9",
                },
            },
            capacityProviders=["FARGATE", "FARGATE_SPOT"],
            defaultCapacityProviderStrategy=[
                {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
                {"capacityProvider": "FARGATE_SPOT", "weight": 4},
            ],
        )
        # What the field ledger refuses is refused by name; the rest is honoured.
        self.fail("CreateCluster", {"InvalidParameterException"}, **rich)
        r = self.call("CreateCluster", **without(rich, self.refused["CreateCluster"]))
        arn = (r or {}).get("cluster", {}).get("clusterArn", name)
        self.call("CreateCluster", clusterName=name)  # idempotent
        self.call("CreateCluster")  # the default cluster
        for i in range(4):
            self.call("CreateCluster", clusterName=f"conformance-{s}-{i}")

        every = list(self.check.model.shape_for("ClusterField").enum)
        r = self.call("DescribeClusters", clusters=[name, arn, f"missing-{s}"], include=every)
        if r is not None:
            self.expect("DescribeClusters", len(r.get("clusters", [])) == 2,
                        "expected 2 clusters described")
            self.expect("DescribeClusters", len(r.get("failures", [])) == 1,
                        "expected 1 failure (MISSING)")
        for field in every:
            self.call("DescribeClusters", clusters=[name], include=[field])
        self.call("DescribeClusters")
        self.call("DescribeClusters", clusters=["default"])

        self.call("ListClusters")
        self.call("ListClusters", maxResults=1)
        pages = self.paginate("ListClusters", PaginationConfig={"PageSize": 2})
        self.expect("ListClusters", len(pages) >= 3, "PageSize 2 over 6+ clusters gave < 3 pages")

        rich = dict(
            cluster=name,
            settings=[{"name": "containerInsights", "value": "enabled"}],
            configuration={
                "executeCommandConfiguration": {"logging": "DEFAULT"},
            },
            serviceConnectDefaults={
                "namespace": "arn:aws:servicediscovery:us-east-1:123456789012:namespace/ns-1"
            },
        )
        self.fail("UpdateCluster", {"InvalidParameterException"}, **rich)
        self.call("UpdateCluster", **without(rich, self.refused["UpdateCluster"]))
        self.call(
            "UpdateClusterSettings",
            cluster=arn,
            settings=[{"name": "containerInsights", "value": "disabled"}],
        )

        self.call("TagResource", resourceArn=arn, tags=[{"key": "owner", "value": "ci"}])
        r = self.call("ListTagsForResource", resourceArn=arn)
        self.expect("ListTagsForResource", r is not None and len(r.get("tags", [])) == 3,
                    "expected 3 tags on the cluster")
        self.call("UntagResource", resourceArn=arn, tagKeys=["env", "owner"])
        self.call("ListTagsForResource", resourceArn=arn)

        # Errors.
        missing = f"missing-{s}"
        self.fail("DeleteCluster", {"ClusterNotFoundException"}, cluster=missing)
        self.fail("UpdateCluster", {"ClusterNotFoundException"}, cluster=missing,
                  settings=[{"name": "containerInsights", "value": "enabled"}])
        self.fail("UpdateClusterSettings", {"ClusterNotFoundException"}, cluster=missing,
                  settings=[{"name": "containerInsights", "value": "enabled"}])
        self.fail("CreateCluster", {"InvalidParameterException"}, clusterName="bad name!")
        self.fail("CreateCluster", {"InvalidParameterException", "ClientException"},
                  clusterName=f"bad-{s}", settings=[{"name": "containerInsights", "value": "x"}])
        self.fail("DescribeClusters", {"InvalidParameterException", "SerializationException"},
                  include=["BOGUS"])
        self.fail("ListClusters", {"InvalidParameterException"}, maxResults=1000)
        self.fail("ListClusters", {"InvalidParameterException"}, nextToken="zz-not-a-token")
        self.fail("ListClusters", {"SerializationException"}, maxResults="ten")
        self.fail("ListTagsForResource",
                  {"ClusterNotFoundException", "ResourceNotFoundException",
                   "InvalidParameterException"},
                  resourceArn=arn.replace(name, missing))
        self.fail("TagResource", {"InvalidParameterException"},
                  resourceArn="arn:aws:s3:::not-ecs", tags=[{"key": "a", "value": "b"}])

        for i in range(4):
            self.call("DeleteCluster", cluster=f"conformance-{s}-{i}")
        r = self.call("DeleteCluster", cluster=name)
        self.expect("DeleteCluster",
                    r is not None and r.get("cluster", {}).get("status") == "INACTIVE",
                    "deleted cluster is not INACTIVE")
        self.call("DescribeClusters", clusters=[name], include=every)

    # -- task definitions --------------------------------------------------------------------

    def rich_awsvpc(self, family: str) -> dict:
        account = "123456789012"
        return {
            "family": family,
            "taskRoleArn": f"arn:aws:iam::{account}:role/app-task",
            "executionRoleArn": f"arn:aws:iam::{account}:role/ecsTaskExecutionRole",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["EC2"],
            "cpu": "1024",
            "memory": "2048",
            "pidMode": "task",
            "ipcMode": "task",
            "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
            "enableFaultInjection": True,
            "placementConstraints": [
                {"type": "memberOf", "expression": "attribute:ecs.instance-type =~ g4dn.*"}
            ],
            "inferenceAccelerators": [{"deviceName": "device1", "deviceType": "eia2.medium"}],
            "proxyConfiguration": {
                "type": "APPMESH",
                "containerName": "envoy",
                "properties": [
                    {"name": "IgnoredUID", "value": "1337"},
                    {"name": "ProxyIngressPort", "value": "15000"},
                    {"name": "ProxyEgressPort", "value": "15001"},
                    {"name": "AppPorts", "value": "8080"},
                    {"name": "EgressIgnoredIPs", "value": "169.254.170.2,169.254.169.254"},
                ],
            },
            "volumes": [
                {
                    "name": "data",
                    "dockerVolumeConfiguration": {
                        "scope": "shared",
                        "autoprovision": True,
                        "driver": "local",
                        "driverOpts": {"type": "tmpfs", "device": "tmpfs"},
                        "labels": {"purpose": "cache"},
                    },
                },
                {
                    "name": "shared-fs",
                    "efsVolumeConfiguration": {
                        "fileSystemId": "fs-12345678",
                        "rootDirectory": "/",
                        "transitEncryption": "ENABLED",
                        "transitEncryptionPort": 2049,
                        "authorizationConfig": {"accessPointId": "fsap-1234abcd", "iam": "ENABLED"},
                    },
                },
                {"name": "scratch", "host": {"sourcePath": "/var/scratch"}},
                {"name": "at-launch", "configuredAtLaunch": True},
            ],
            "tags": [{"key": "app", "value": "shop"}, {"key": "tier", "value": "web"}],
            "containerDefinitions": [
                {
                    "name": "web",
                    "image": "public.ecr.aws/nginx/nginx:1.27",
                    "repositoryCredentials": {
                        "credentialsParameter":
                            f"arn:aws:secretsmanager:us-east-1:{account}:secret:registry-AbCdEf"
                    },
                    "cpu": 512,
                    "memory": 1024,
                    "memoryReservation": 512,
                    "portMappings": [
                        {"containerPort": 8080, "hostPort": 8080, "protocol": "tcp",
                         "name": "http", "appProtocol": "http"},
                        {"containerPort": 9090, "protocol": "tcp", "name": "grpc",
                         "appProtocol": "grpc"},
                        {"containerPortRange": "10000-10010", "protocol": "udp"},
                    ],
                    "essential": True,
                    "restartPolicy": {
                        "enabled": True, "ignoredExitCodes": [0, 143], "restartAttemptPeriod": 300
                    },
                    "entryPoint": ["/docker-entrypoint.sh"],
                    "command": ["nginx", "-g", "daemon off;"],
                    "environment": [
                        {"name": "MODE", "value": "production"},
                        {"name": "WORKERS", "value": "4"},
                    ],
                    "environmentFiles": [
                        {"value": "arn:aws:s3:::app-config/web.env", "type": "s3"}
                    ],
                    "mountPoints": [
                        {"sourceVolume": "data", "containerPath": "/data", "readOnly": False},
                        {"sourceVolume": "shared-fs", "containerPath": "/shared", "readOnly": True},
                    ],
                    "volumesFrom": [{"sourceContainer": "envoy", "readOnly": True}],
                    "linuxParameters": {
                        "capabilities": {"add": ["NET_ADMIN"], "drop": ["MKNOD"]},
                        "devices": [{"hostPath": "/dev/fuse", "containerPath": "/dev/fuse",
                                     "permissions": ["read", "write"]}],
                        "initProcessEnabled": True,
                        "sharedMemorySize": 64,
                        "tmpfs": [{"containerPath": "/run", "size": 64,
                                   "mountOptions": ["rw", "noexec"]}],
                        "maxSwap": 1024,
                        "swappiness": 60,
                    },
                    "secrets": [{
                        "name": "DB_PASSWORD",
                        "valueFrom": f"arn:aws:ssm:us-east-1:{account}:parameter/db/password",
                    }],
                    "dependsOn": [
                        {"containerName": "envoy", "condition": "HEALTHY"},
                        {"containerName": "log_router", "condition": "START"},
                    ],
                    "startTimeout": 120,
                    "stopTimeout": 30,
                    "versionConsistency": "disabled",
                    "user": "1000:1000",
                    "workingDirectory": "/srv",
                    "disableNetworking": False,
                    "privileged": False,
                    "readonlyRootFilesystem": True,
                    "dockerSecurityOptions": ["no-new-privileges"],
                    "interactive": False,
                    "pseudoTerminal": False,
                    "dockerLabels": {"com.example.team": "platform"},
                    "ulimits": [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}],
                    "logConfiguration": {
                        "logDriver": "awsfirelens",
                        "options": {"Name": "cloudwatch", "region": "us-east-1"},
                    },
                    "healthCheck": {
                        "command": ["CMD-SHELL", "curl -f http://localhost:8080/ || exit 1"],
                        "interval": 30, "timeout": 5, "retries": 3, "startPeriod": 10,
                    },
                    "systemControls": [{"namespace": "net.core.somaxconn", "value": "1024"}],
                    "resourceRequirements": [
                        {"value": "1", "type": "GPU"},
                        {"value": "device1", "type": "InferenceAccelerator"},
                    ],
                    "credentialSpecs": ["credentialspecdomainless:arn:aws:s3:::specs/gmsa.json"],
                },
                {
                    "name": "envoy",
                    "image": "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29.6.0-prod",
                    "essential": True,
                    "memoryReservation": 256,
                    "user": "1337",
                    "environment": [{"name": "APPMESH_RESOURCE_ARN", "value": "mesh/m/vn/web"}],
                    "healthCheck": {
                        "command": ["CMD", "curl", "-s", "http://localhost:9901/server_info"],
                        "interval": 5, "timeout": 2, "retries": 3,
                    },
                },
                {
                    "name": "log_router",
                    "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable",
                    "essential": False,
                    "memoryReservation": 50,
                    "user": "0",
                    "firelensConfiguration": {
                        "type": "fluentbit",
                        "options": {"enable-ecs-log-metadata": "true"},
                    },
                    "logConfiguration": {
                        "logDriver": "awslogs",
                        "options": {
                            "awslogs-group": "/ecs/firelens",
                            "awslogs-region": self.region,
                            "awslogs-stream-prefix": "firelens",
                        },
                    },
                },
            ],
        }

    def bridge(self, family: str) -> dict:
        return {
            "family": family,
            "networkMode": "bridge",
            "volumes": [
                {"name": "logs", "host": {"sourcePath": "/var/log/app"}},
                {"name": "cache",
                 "dockerVolumeConfiguration": {"scope": "task", "driver": "local"}},
            ],
            "containerDefinitions": [
                {
                    "name": "app",
                    "image": "registry.example.com/app:2.3.1",
                    "memoryReservation": 256,
                    "cpu": 256,
                    "links": ["db:database"],
                    "hostname": "app",
                    "extraHosts": [{"hostname": "metadata", "ipAddress": "169.254.169.254"}],
                    "dnsServers": ["10.0.0.2"],
                    "dnsSearchDomains": ["svc.local"],
                    "portMappings": [{"containerPort": 8000, "hostPort": 0}],
                    "mountPoints": [{"sourceVolume": "logs", "containerPath": "/var/log/app"}],
                    "dependsOn": [{"containerName": "db", "condition": "START"}],
                    "logConfiguration": {"logDriver": "json-file",
                                         "options": {"max-size": "10m"}},
                },
                {
                    "name": "db",
                    "image": "postgres:16",
                    "memory": 512,
                    "essential": False,
                    "mountPoints": [{"sourceVolume": "cache", "containerPath": "/var/lib/pg"}],
                    "portMappings": [{"containerPort": 5432, "hostPort": 5432, "protocol": "tcp"}],
                },
            ],
        }

    def fargate(self, family: str) -> dict:
        return {
            "family": family,
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "1 vCPU",
            "memory": "2 GB",
            "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
            "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
            "ephemeralStorage": {"sizeInGiB": 30},
            "containerDefinitions": [
                {
                    "name": "worker",
                    "image": "public.ecr.aws/docker/library/python:3.12-slim",
                    "essential": True,
                    "command": ["python", "-m", "worker"],
                    "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
                    "logConfiguration": {
                        "logDriver": "awslogs",
                        "options": {"awslogs-group": "/ecs/worker", "awslogs-region": self.region,
                                    "awslogs-stream-prefix": "worker"},
                    },
                    "startTimeout": 60,
                    "stopTimeout": 90,
                }
            ],
        }

    def task_definitions(self) -> None:
        s = self.suffix
        web, bridge, worker = f"web-{s}", f"bridge-{s}", f"worker-{s}"
        arns: dict[str, str] = {}
        for family, build in ((web, self.rich_awsvpc), (bridge, self.bridge),
                              (worker, self.fargate)):
            full = build(family)
            honoured = without(full, self.refused["RegisterTaskDefinition"])
            for container in honoured["containerDefinitions"]:
                # A refused log driver leaves a configuration without its required driver.
                if "logDriver" not in container.get("logConfiguration", {"logDriver": ""}):
                    del container["logConfiguration"]
            if honoured != full:
                self.fail("RegisterTaskDefinition", {"InvalidParameterException", "ClientException"},
                          **full)
            for revision in (1, 2):
                r = self.call("RegisterTaskDefinition", **honoured)
                arn = (r or {}).get("taskDefinition", {}).get("taskDefinitionArn")
                if arn:
                    arns[f"{family}:{revision}"] = arn
        if f"{web}:1" not in arns:
            self.check.violation("RegisterTaskDefinition", "the rich task definition failed")

        for reference in (web, f"{web}:1", arns.get(f"{web}:2", f"{web}:2"), bridge, worker):
            self.call("DescribeTaskDefinition", taskDefinition=reference)
            self.call("DescribeTaskDefinition", taskDefinition=reference, include=["TAGS"])

        self.call("ListTaskDefinitions")
        self.call("ListTaskDefinitions", familyPrefix=web, status="ACTIVE", sort="DESC")
        self.call("ListTaskDefinitions", maxResults=100)
        pages = self.paginate("ListTaskDefinitions", PaginationConfig={"PageSize": 2})
        self.expect("ListTaskDefinitions", len(pages) >= 3,
                    "PageSize 2 over 6 revisions gave < 3 pages")
        self.paginate("ListTaskDefinitions", sort="DESC", PaginationConfig={"PageSize": 4})
        self.call("ListTaskDefinitionFamilies")
        self.call("ListTaskDefinitionFamilies", familyPrefix=f"web-{s}", status="ALL")
        self.paginate("ListTaskDefinitionFamilies", status="ACTIVE",
                      PaginationConfig={"PageSize": 1})

        web1 = arns.get(f"{web}:1", f"{web}:1")
        self.call("TagResource", resourceArn=web1, tags=[{"key": "release", "value": "2024.1"}])
        self.call("ListTagsForResource", resourceArn=web1)
        self.call("UntagResource", resourceArn=web1, tagKeys=["tier"])

        self.call("DeregisterTaskDefinition", taskDefinition=web1)
        self.call("DeregisterTaskDefinition", taskDefinition=f"{bridge}:1")
        self.call("DeregisterTaskDefinition", taskDefinition=f"{bridge}:2")
        self.call("ListTaskDefinitions", status="INACTIVE")
        self.call("ListTaskDefinitionFamilies", status="INACTIVE")
        r = self.call(
            "DeleteTaskDefinitions",
            taskDefinitions=[web1, f"{bridge}:1", f"{web}:2", f"nothing-{s}:1"],
        )
        if r is not None:
            self.expect("DeleteTaskDefinitions", len(r.get("taskDefinitions", [])) == 2,
                        "expected 2 definitions deleted")
            self.expect("DeleteTaskDefinitions", len(r.get("failures", [])) == 2,
                        "expected 2 failures (still ACTIVE, does not exist)")
        r = self.call("DescribeTaskDefinition", taskDefinition=web1)
        self.expect(
            "DescribeTaskDefinition",
            r is not None and r["taskDefinition"].get("status") == "DELETE_IN_PROGRESS",
            "a deleted revision is not DELETE_IN_PROGRESS",
        )
        self.call("ListTaskDefinitions", status="DELETE_IN_PROGRESS")

        # Errors.
        self.fail("DescribeTaskDefinition", {"ClientException"}, taskDefinition=f"nothing-{s}")
        self.fail("DescribeTaskDefinition", {"ClientException"}, taskDefinition=f"{web}:99")
        self.fail("RegisterTaskDefinition", {"ClientException"}, family=f"empty-{s}",
                  containerDefinitions=[])
        self.fail("RegisterTaskDefinition", {"ClientException", "InvalidParameterException"},
                  family=f"bad-{s}", networkMode="bridge", requiresCompatibilities=["FARGATE"],
                  containerDefinitions=[{"name": "a", "image": "busybox", "memory": 64}])
        self.fail("RegisterTaskDefinition", {"SerializationException"}, family=f"bad-{s}",
                  containerDefinitions=[{"name": "a", "image": "busybox", "memory": "lots"}])
        self.fail("RegisterTaskDefinition", {"SerializationException", "ClientException",
                                             "InvalidParameterException"},
                  containerDefinitions=[{"name": "a", "image": "busybox", "memory": 64}])
        self.fail("DeregisterTaskDefinition", {"ClientException", "InvalidParameterException"},
                  taskDefinition=f"nothing-{s}:1")
        self.fail("DeleteTaskDefinitions", {"ClientException", "InvalidParameterException"},
                  taskDefinitions=[])
        self.fail("ListTaskDefinitions", {"InvalidParameterException", "ClientException"},
                  status="BOGUS")
        self.fail("ListTaskDefinitionFamilies", {"InvalidParameterException"}, maxResults=0)
        self.fail("TagResource", {"ResourceNotFoundException", "InvalidParameterException",
                                  "ClientException"},
                  resourceArn=web1.replace(f"{web}:1", f"nothing-{s}:1"),
                  tags=[{"key": "a", "value": "b"}])

    # -- authentication errors ---------------------------------------------------------------

    def authentication(self) -> None:
        wrong_secret = self._client((self.key[0], "x" * 40), validate=True)
        self.fail("ListClusters", {"InvalidSignatureException"}, client=wrong_secret)
        unknown_key = self._client(("AKIAIOSFODNN7EXAMPLE", "x" * 40), validate=True)
        self.fail("ListClusters", {"UnrecognizedClientException", "InvalidClientTokenId"},
                  client=unknown_key)

    def malformed_json(self) -> None:
        """A body that is not JSON cannot come from botocore: sign and send it by hand."""
        op = "ListClusters"
        request = AWSRequest(
            method="POST",
            url=self.endpoint + "/",
            data=b'{"maxResults": ',
            headers={
                "Content-Type": JSON_CONTENT_TYPE,
                "X-Amz-Target": f"AmazonEC2ContainerServiceV20141113.{op}",
            },
        )
        SigV4Auth(Credentials(*self.key), "ecs", self.region).add_auth(request)
        prepared = request.prepare()
        try:
            response = URLLib3Session().send(prepared)
        except (BotoCoreError, OSError) as error:
            self.check.violation(op, f"malformed JSON: no HTTP answer: {error!r}")
            return
        operation_model = self.check.model.operation_model(op)
        self.check.before_parse(
            operation_model,
            {"status_code": response.status_code, "headers": response.headers,
             "body": response.content},
        )
        body = self.check.last[2] if self.check.last else None
        code = body.get("__type") if isinstance(body, dict) else None
        self.expect(op, code == "SerializationException",
                    f"malformed JSON must answer SerializationException, got {code}")

    # -- the rest of the model ---------------------------------------------------------------

    def unimplemented(self) -> list[str]:
        missing = sorted(set(self.check.model.operation_names) - IMPLEMENTED - ANSWERED_WITH_ERRORS)
        for op in missing:
            self.check.last = None
            try:
                getattr(self.raw, xform_name(op))()
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code")
                status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if code != "UnknownOperationException" or status != 400:
                    self.check.violation(
                        op,
                        f"not implemented here, so it must answer HTTP 400 "
                        f"UnknownOperationException; got HTTP {status} {code} (if {op} is now "
                        "implemented, add it to IMPLEMENTED and exercise it)",
                    )
                continue
            except (BotoCoreError, OSError) as error:
                self.check.violation(op, f"no HTTP answer (dropped connection?): {error!r}")
                continue
            self.check.violation(
                op, "not in IMPLEMENTED but answered with success: add it and exercise it"
            )
        return missing


def self_test(model) -> list[str]:
    """Feeds the validator known-bad bodies, so a checker that stopped checking cannot pass."""
    output = model.operation_model("DescribeClusters").output_shape
    good = {"clusters": [{"clusterName": "a", "registeredContainerInstancesCount": 0,
                          "settings": [{"name": "containerInsights", "value": "enabled"}],
                          "tags": [{"key": "k", "value": "v"}]}],
            "failures": []}
    td = model.operation_model("DescribeTaskDefinition").output_shape
    cases: list[tuple[Any, Any, str]] = [
        (output, {**good, "extra": 1}, "member unknown"),
        (output, {"clusters": [{"clusterName": 5}]}, "must be a JSON string"),
        (output, {"clusters": [{"activeServicesCount": "1"}]}, "must be a JSON integer"),
        (output, {"clusters": [{"activeServicesCount": 1.5}]}, "must be a JSON integer"),
        (output, {"clusters": [{"settings": [{"name": "nope"}]}]}, "is not a value of enum"),
        (output, {"clusters": {}}, "must be a JSON array"),
        (td, {"taskDefinition": {"requiresAttributes": [{"value": "v"}]}}, "required member"),
        (output, {"clusters": [{"tags": [{"key": ""}]}]}, "has min 1"),
        (output, {"failures": None}, "null"),
        (td, {"taskDefinition": {"registeredAt": "2024-01-01"}}, "epoch seconds"),
        (td, {"taskDefinition": {"containerDefinitions": [{"essential": "true"}]}},
         "must be a JSON boolean"),
        (td, {"taskDefinition": {"containerDefinitions": [{"dockerLabels": []}]}},
         "must be a JSON object"),
    ]
    problems = []
    check = Conformance(model)
    check.validate(output, good, "good")
    if check.violations:
        problems.append(f"a valid body was refused: {check.violations}")
    for shape, body, expected in cases:
        check = Conformance(model)
        check.validate(shape, body, "case")
        if not any(expected in v for v in check.violations):
            problems.append(f"{json.dumps(body)}: expected a violation containing {expected!r}, "
                            f"got {check.violations}")
    return problems


def read_credentials(path: str) -> tuple[str, str]:
    parser = configparser.ConfigParser()
    if not parser.read(path):
        raise SystemExit(f"cannot read credentials file {path}")
    section = parser["default"]
    return section["aws_access_key_id"], section["aws_secret_access_key"]


def run(endpoint: str, key: tuple[str, str], region: str, out: Callable[[str], None],
        agent_cluster: str | None = None) -> int:
    session = botocore.session.get_session()
    model = session.get_service_model("ecs")
    broken = self_test(model)
    if broken:
        out("the checker's self-test failed (the validator would miss violations):")
        for problem in broken:
            out(f"  - {problem}")
        return 2
    check = Conformance(model)
    unknown = IMPLEMENTED - set(model.operation_names)
    for op in sorted(unknown):
        check.violation(op, "listed as implemented but not an operation of botocore's ECS model")

    scenario = Scenario(session, check, endpoint, key, region)
    for step in (scenario.account_settings, scenario.clusters, scenario.capacity_providers,
                 scenario.everyday, scenario.task_sets,
                 scenario.task_definitions,
                 scenario.authentication, scenario.malformed_json):
        step()
    if agent_cluster:
        scenario.tasks(agent_cluster)
    not_implemented = scenario.unimplemented()

    return report(check, model, "ECS", IMPLEMENTED, not_implemented, out)


def report(check: Conformance, model, service: str, implemented: set[str],
           not_implemented: list, out: Callable[[str], None]) -> int:
    """Prints the summary of a conformance run (shared by the ECS and Logs checks); 1 when any
    violation was found (every implemented operation must have succeeded at least once)."""
    for op in sorted(implemented & set(model.operation_names)):
        if not check.successes.get(op):
            check.violation(op, "never answered with success, so its output was never validated")

    out(f"botocore {botocore.__version__}, {service} model {model.api_version}: "
        f"{len(model.operation_names)} operations")
    out(f"implemented operations checked: {len(implemented)}; "
        f"responses validated: {sum(check.responses.values())} "
        f"({sum(check.successes.values())} successes)")
    for op in sorted(implemented):
        out(f"  {op}: {check.responses.get(op, 0)} responses, {check.successes.get(op, 0)} ok")
    out(f"unimplemented operations probed for UnknownOperationException: {len(not_implemented)}")
    if check.violations:
        counts: dict[str, int] = {}
        for v in check.violations:
            counts[v] = counts.get(v, 0) + 1
        out(f"\n{len(check.violations)} violation(s), {len(counts)} distinct:")
        for v, n in counts.items():
            out(f"  - {v}" + (f"  (x{n})" if n > 1 else ""))
        return 1
    out("no violations")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="e.g. http://127.0.0.1:8080")
    parser.add_argument("--credentials", required=True, help="the server's credentials file")
    parser.add_argument("--region", default="us-east-1", help="the server's region")
    parser.add_argument("--agent-cluster", help="a cluster with one connected agent, to run tasks in")
    args = parser.parse_args()
    return run(args.endpoint, read_credentials(args.credentials), args.region, print,
               args.agent_cluster)


if __name__ == "__main__":
    sys.exit(main())
