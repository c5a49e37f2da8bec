"""Conformance check for CloudWatch Logs: drives a Flotilla server with a real botocore `logs`
client and validates every raw JSON response body against botocore's Logs service model, with the
validator of check_ecs_model.py (JSON types, enums, bounds, required and unknown members, error
bodies and their status). Every operation of the model the server does not implement must answer
HTTP 400 UnknownOperationException.

Usage: check_logs_model.py --endpoint http://127.0.0.1:PORT --credentials DATA_DIR/credentials
Exits 0 when no violation was found, 1 otherwise (each violation is listed), 2 on a setup error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from typing import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    import botocore
    import botocore.session
    from botocore import xform_name
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.config import Config
    from botocore.credentials import Credentials
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.httpsession import URLLib3Session
except ImportError:  # pragma: no cover - the Rust test checks this first, with a clearer message
    print("botocore is not installed: run `pip install botocore`", file=sys.stderr)
    sys.exit(2)

import check_ecs_model
from check_ecs_model import JSON_CONTENT_TYPE, Conformance, read_credentials, self_test

# The operations the server implements. Every other operation of the model must answer
# UnknownOperationException; when the server grows an operation, add it here and exercise it below.
IMPLEMENTED = {
    "CreateLogGroup",
    "DeleteLogGroup",
    "DescribeLogGroups",
    "PutRetentionPolicy",
    "DeleteRetentionPolicy",
    "CreateLogStream",
    "DeleteLogStream",
    "DescribeLogStreams",
    "PutLogEvents",
    "GetLogEvents",
    "FilterLogEvents",
}


class Scenario(check_ecs_model.ModelScenario):
    """Calls the operations with realistic inputs and checks what each call should do."""

    SERVICE = "logs"
    # Streaming operations (StartLiveTail, GetLogObject) prefix the host with "stream-"; this
    # endpoint serves them all on one host.
    EXTRA_CONFIG = {"inject_host_prefix": False}

    # -- groups ------------------------------------------------------------------------------

    def groups(self) -> str:
        s = self.suffix
        base = f"/conformance/{s}"
        # Tags are refused (the field ledger): no operation served would read them back.
        self.fail("CreateLogGroup", {"InvalidParameterException"}, logGroupName=f"{base}/a",
                  tags={"team": "web"})
        self.call("CreateLogGroup", logGroupName=f"{base}/a")
        self.call("CreateLogGroup", logGroupName=f"{base}/b", logGroupClass="STANDARD")
        self.call("CreateLogGroup", logGroupName=f"{base}/c")
        self.fail("CreateLogGroup", {"ResourceAlreadyExistsException"}, logGroupName=f"{base}/a")
        self.fail("CreateLogGroup", {"InvalidParameterException"}, logGroupName="bad:name")
        self.fail("CreateLogGroup", {"InvalidParameterException"}, logGroupName="")
        pages = self.paginate("DescribeLogGroups", logGroupNamePrefix=f"{base}/",
                              PaginationConfig={"PageSize": 2})
        names = [g["logGroupName"] for p in pages for g in p.get("logGroups", [])]
        self.expect("DescribeLogGroups", names == [f"{base}/a", f"{base}/b", f"{base}/c"],
                    f"paginated names: {names}")
        self.call("DescribeLogGroups", logGroupNamePattern=s)
        self.call("DescribeLogGroups", logGroupIdentifiers=[f"{base}/a"], limit=50)
        self.fail("DescribeLogGroups", {"InvalidParameterException"}, limit=0)
        self.fail("DescribeLogGroups", {"InvalidParameterException"}, nextToken="not-a-token")
        self.fail("DescribeLogGroups", {"InvalidParameterException"},
                  logGroupNamePrefix="x", logGroupNamePattern="y")
        self.call("PutRetentionPolicy", logGroupName=f"{base}/a", retentionInDays=7)
        self.fail("PutRetentionPolicy", {"InvalidParameterException"},
                  logGroupName=f"{base}/a", retentionInDays=2)
        self.fail("PutRetentionPolicy", {"ResourceNotFoundException"},
                  logGroupName=f"{base}/missing", retentionInDays=7)
        described = self.call("DescribeLogGroups", logGroupNamePrefix=f"{base}/a") or {}
        retention = [g.get("retentionInDays") for g in described.get("logGroups", [])]
        self.expect("PutRetentionPolicy", retention == [7], f"retention after put: {retention}")
        self.call("DeleteRetentionPolicy", logGroupName=f"{base}/a")
        self.fail("DeleteRetentionPolicy", {"ResourceNotFoundException"},
                  logGroupName=f"{base}/missing")
        self.call("DeleteLogGroup", logGroupName=f"{base}/c")
        self.fail("DeleteLogGroup", {"ResourceNotFoundException"}, logGroupName=f"{base}/c")
        return f"{base}/a"

    # -- streams and events ------------------------------------------------------------------

    def streams_and_events(self, group: str) -> None:
        now = int(time.time() * 1000)
        for stream in ("web/1", "web/2", "worker/1"):
            self.call("CreateLogStream", logGroupName=group, logStreamName=stream)
        self.fail("CreateLogStream", {"ResourceAlreadyExistsException"},
                  logGroupName=group, logStreamName="web/1")
        self.fail("CreateLogStream", {"ResourceNotFoundException"},
                  logGroupName=group + "-missing", logStreamName="s")
        self.fail("CreateLogStream", {"InvalidParameterException"},
                  logGroupName=group, logStreamName="a:b")

        put = self.call("PutLogEvents", logGroupName=group, logStreamName="web/1",
                        logEvents=[{"timestamp": now - 3000 + i, "message": f"ERROR disk full {i}"
                                    if i % 3 == 0 else f"INFO ok {i}"} for i in range(30)])
        self.expect("PutLogEvents", bool(put and put.get("nextSequenceToken")),
                    "no nextSequenceToken")
        self.call("PutLogEvents", logGroupName=group, logStreamName="web/2",
                  sequenceToken=(put or {}).get("nextSequenceToken", "1"),
                  logEvents=[{"timestamp": now - 15 * 86400 * 1000, "message": "too old"},
                             {"timestamp": now - 1000, "message": "ERROR timeout"},
                             {"timestamp": now + 3 * 3600 * 1000, "message": "too new"}])
        self.fail("PutLogEvents", {"InvalidParameterException"}, logGroupName=group,
                  logStreamName="web/1",
                  logEvents=[{"timestamp": now, "message": "b"}, {"timestamp": now - 1, "message": "a"}])
        self.fail("PutLogEvents", {"ResourceNotFoundException"}, logGroupName=group,
                  logStreamName="missing", logEvents=[{"timestamp": now, "message": "x"}])

        pages = self.paginate("DescribeLogStreams", logGroupName=group,
                              PaginationConfig={"PageSize": 2})
        names = [s["logStreamName"] for p in pages for s in p.get("logStreams", [])]
        self.expect("DescribeLogStreams", names == ["web/1", "web/2", "worker/1"],
                    f"paginated names: {names}")
        self.call("DescribeLogStreams", logGroupName=group, logStreamNamePrefix="web/",
                  descending=True)
        self.call("DescribeLogStreams", logGroupIdentifier=group, orderBy="LastEventTime",
                  descending=True, limit=1)
        self.fail("DescribeLogStreams", {"InvalidParameterException"}, logGroupName=group,
                  orderBy="LastEventTime", logStreamNamePrefix="web")
        self.fail("DescribeLogStreams", {"ResourceNotFoundException"},
                  logGroupName=group + "-missing")

        first = self.call("GetLogEvents", logGroupName=group, logStreamName="web/1",
                          startFromHead=True, limit=10) or {}
        token = first.get("nextForwardToken")
        seen = len(first.get("events", []))
        for _ in range(10):
            page = self.call("GetLogEvents", logGroupName=group, logStreamName="web/1",
                             nextToken=token) or {}
            seen += len(page.get("events", []))
            if page.get("nextForwardToken") == token:
                break
            token = page.get("nextForwardToken")
        self.expect("GetLogEvents", seen == 30, f"read {seen} of 30 events forward")
        self.call("GetLogEvents", logGroupName=group, logStreamName="web/1",
                  startTime=now - 2990, endTime=now - 2980)
        self.call("GetLogEvents", logGroupIdentifier=group, logStreamName="worker/1")
        self.fail("GetLogEvents", {"InvalidParameterException"}, logGroupName=group,
                  logStreamName="web/1", nextToken="garbage")
        self.fail("GetLogEvents", {"ResourceNotFoundException"}, logGroupName=group,
                  logStreamName="missing")

        pages = self.paginate("FilterLogEvents", logGroupName=group, filterPattern="ERROR",
                              PaginationConfig={"PageSize": 3})
        found = sum(len(p.get("events", [])) for p in pages)
        self.expect("FilterLogEvents", found == 11, f"found {found} of 11 ERROR events")
        self.call("FilterLogEvents", logGroupName=group, logStreamNames=["web/1"],
                  filterPattern='"disk full" -ok', startTime=now - 3000, endTime=now)
        self.call("FilterLogEvents", logGroupName=group, logStreamNamePrefix="worker")
        self.fail("FilterLogEvents", {"InvalidParameterException"}, logGroupName=group,
                  filterPattern="{ $.level = 1 }")
        self.fail("FilterLogEvents", {"InvalidParameterException"}, logGroupName=group,
                  logStreamNames=["web/1"], logStreamNamePrefix="web")
        self.fail("FilterLogEvents", {"ResourceNotFoundException"},
                  logGroupName=group + "-missing")

        self.call("DeleteLogStream", logGroupName=group, logStreamName="worker/1")
        self.fail("DeleteLogStream", {"ResourceNotFoundException"}, logGroupName=group,
                  logStreamName="worker/1")
        self.call("DeleteLogGroup", logGroupName=group)

    # -- protocol ----------------------------------------------------------------------------

    def authentication(self) -> None:
        wrong = self.session.create_client(
            "logs", endpoint_url=self.endpoint, region_name=self.region,
            aws_access_key_id=self.key[0], aws_secret_access_key="x" * 40,
            config=Config(retries={"total_max_attempts": 1}))
        wrong.meta.events.register("before-parse.logs.*", self.check.before_parse)
        try:
            wrong.describe_log_groups()
            self.check.violation("DescribeLogGroups", "a wrong secret was accepted")
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            self.expect("DescribeLogGroups", code == "InvalidSignatureException",
                        f"a wrong secret must be InvalidSignatureException, got {code}")

    def malformed_json(self) -> None:
        """A body that is not JSON cannot come from botocore: sign and send it by hand."""
        op = "DescribeLogGroups"
        request = AWSRequest(
            method="POST", url=self.endpoint + "/", data=b'{"limit": ',
            headers={"Content-Type": JSON_CONTENT_TYPE, "X-Amz-Target": f"Logs_20140328.{op}"},
        )
        SigV4Auth(Credentials(*self.key), "logs", self.region).add_auth(request)
        try:
            response = URLLib3Session().send(request.prepare())
        except (BotoCoreError, OSError) as error:
            self.check.violation(op, f"malformed JSON: no HTTP answer: {error!r}")
            return
        self.check.before_parse(
            self.check.model.operation_model(op),
            {"status_code": response.status_code, "headers": response.headers,
             "body": response.content},
        )
        body = self.check.last[2] if self.check.last else None
        code = body.get("__type") if isinstance(body, dict) else None
        self.expect(op, code == "SerializationException",
                    f"malformed JSON must answer SerializationException, got {code}")

    def unimplemented(self) -> list[str]:
        missing = sorted(set(self.check.model.operation_names) - IMPLEMENTED)
        for op in missing:
            try:
                getattr(self.raw, xform_name(op))()
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code")
                status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if code != "UnknownOperationException" or status != 400:
                    self.check.violation(
                        op,
                        f"not implemented here, so it must answer HTTP 400 "
                        f"UnknownOperationException; got HTTP {status} {code}",
                    )
                continue
            except (BotoCoreError, OSError) as error:
                self.check.violation(op, f"no HTTP answer (dropped connection?): {error!r}")
                continue
            self.check.violation(
                op, "not in IMPLEMENTED but answered with success: add it and exercise it"
            )
        return missing


def run(endpoint: str, key: tuple[str, str], region: str, out: Callable[[str], None]) -> int:
    session = botocore.session.get_session()
    broken = self_test(session.get_service_model("ecs"))
    if broken:
        out("the checker's self-test failed (the validator would miss violations):")
        for problem in broken:
            out(f"  - {problem}")
        return 2
    model = session.get_service_model("logs")
    check = Conformance(model)
    for op in sorted(IMPLEMENTED - set(model.operation_names)):
        check.violation(op, "listed as implemented but not an operation of botocore's Logs model")

    scenario = Scenario(session, check, endpoint, key, region)
    group = scenario.groups()
    scenario.streams_and_events(group)
    scenario.authentication()
    scenario.malformed_json()
    not_implemented = scenario.unimplemented()

    return check_ecs_model.report(check, model, "Logs", IMPLEMENTED, not_implemented, out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="e.g. http://127.0.0.1:8080")
    parser.add_argument("--credentials", required=True, help="the server's credentials file")
    parser.add_argument("--region", default="us-east-1", help="the server's region")
    args = parser.parse_args()
    return run(args.endpoint, read_credentials(args.credentials), args.region, print)


if __name__ == "__main__":
    sys.exit(main())
