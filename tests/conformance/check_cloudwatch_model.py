"""Conformance check for CloudWatch metrics: drives a Flotilla server with real botocore
`cloudwatch` clients — the protocol botocore (and so the AWS CLI) picks from the model (AWS JSON
1.0) with every raw JSON answer validated against botocore's model by check_ecs_model.py's
validator, then the same model forced to `query` (botocore's XML parser reads the answers) and to
`smithy-rpc-v2-cbor` (its CBOR parser does, as current Go, JS and Ruby SDKs speak it) — on a
cluster that has running tasks, so the `AWS/ECS` reservation series have data.
Every operation of the model the server does not implement must answer HTTP 400
UnknownOperationException (botocore reports its query-compatible code, InvalidAction).

Usage: check_cloudwatch_model.py --endpoint http://127.0.0.1:PORT --credentials DATA_DIR/credentials
       --cluster NAME
Exits 0 when no violation was found, 1 otherwise (each violation is listed), 2 on a setup error.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from typing import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    import botocore
    import botocore.session
    from botocore import xform_name
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # pragma: no cover - the Rust test checks this first, with a clearer message
    print("botocore is not installed: run `pip install botocore`", file=sys.stderr)
    sys.exit(2)

import check_ecs_model
from check_ecs_model import Conformance, read_credentials, self_test

IMPLEMENTED = {"GetMetricStatistics", "GetMetricData", "ListMetrics"}
# CloudWatch's JSON protocol is AWS JSON 1.0 (check_ecs_model's validator reads this name).
check_ecs_model.JSON_CONTENT_TYPE = "application/x-amz-json-1.0"


def model_dir(protocol: str) -> str:
    """A botocore data directory whose cloudwatch model speaks only `protocol`."""
    loader = botocore.session.get_session().get_component("data_loader")
    model = loader.load_service_model("cloudwatch", "service-2")
    model["metadata"]["protocol"] = protocol
    model["metadata"]["protocols"] = [protocol]
    root = tempfile.mkdtemp(prefix=f"cloudwatch-{protocol}-model-")
    folder = os.path.join(root, "cloudwatch", model["metadata"]["apiVersion"])
    os.makedirs(folder)
    with gzip.open(os.path.join(folder, "service-2.json.gz"), "wt") as out:
        json.dump(model, out)
    return root


class Scenario:
    def __init__(self, session, check: Conformance | None, endpoint: str, key: tuple[str, str],
                 region: str, label: str):
        self.check = check
        self.label = label
        self.violations: list[str] = []
        self.seen_content_types: set[str] = set()
        self.client = self._client(session, endpoint, key, region, validate=True)
        self.raw = self._client(session, endpoint, key, region, validate=False)

    def _client(self, session, endpoint, key, region, validate: bool):
        client = session.create_client(
            "cloudwatch", endpoint_url=endpoint, region_name=region,
            aws_access_key_id=key[0], aws_secret_access_key=key[1],
            config=Config(parameter_validation=validate, retries={"total_max_attempts": 1},
                          connect_timeout=5, read_timeout=30))
        if self.check is not None:
            client.meta.events.register("before-parse.cloudwatch.*", self.check.before_parse)
        client.meta.events.register("before-send.cloudwatch.*", self._note_request)
        return client

    def _note_request(self, request, **_kwargs):
        value = request.headers.get("Content-Type")
        self.seen_content_types.add(value.decode() if isinstance(value, bytes) else str(value))

    def violation(self, where: str, message: str) -> None:
        self.violations.append(f"[{self.label}] {where}: {message}")

    def call(self, op: str, **params) -> dict:
        try:
            return getattr(self.client, xform_name(op))(**params)
        except ClientError as error:
            err = error.response.get("Error", {})
            self.violation(op, f"expected success, got {err.get('Code')}: {err.get('Message')}")
        except (BotoCoreError, OSError) as error:
            self.violation(op, f"no HTTP answer: {error!r}")
        return {}

    def fail(self, op: str, codes: set[str], **params) -> None:
        try:
            getattr(self.raw, xform_name(op))(**params)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code not in codes:
                self.violation(op, f"expected {' or '.join(sorted(codes))}, got {code} ({params})")
            return
        except (BotoCoreError, OSError) as error:
            self.violation(op, f"no HTTP answer: {error!r}")
            return
        self.violation(op, f"expected {' or '.join(sorted(codes))}, got success ({params})")

    def expect(self, op: str, condition: bool, message: str) -> None:
        if not condition:
            self.violation(op, message)

    def run(self, cluster: str, model) -> None:
        now = datetime.now(timezone.utc)
        start, end = now - timedelta(minutes=30), now + timedelta(minutes=1)
        dims = [{"Name": "ClusterName", "Value": cluster}]
        stats = self.call("GetMetricStatistics", Namespace="AWS/ECS", MetricName="CPUReservation",
                          Dimensions=dims, StartTime=start, EndTime=end, Period=60,
                          Statistics=["Average", "Minimum", "Maximum", "Sum", "SampleCount"])
        points = stats.get("Datapoints", [])
        self.expect("GetMetricStatistics", bool(points), f"no datapoints for {cluster}: {stats}")
        for point in points:
            self.expect("GetMetricStatistics", isinstance(point.get("Timestamp"), datetime),
                        f"Timestamp not parsed as a time: {point}")
            self.expect("GetMetricStatistics", point.get("Unit") == "Percent", f"unit: {point}")
            average, count = point.get("Average"), point.get("SampleCount")
            self.expect("GetMetricStatistics",
                        isinstance(average, float) and abs(average * count - point["Sum"]) < 1e-6,
                        f"Average × SampleCount must be Sum: {point}")
        self.call("GetMetricStatistics", Namespace="AWS/ECS", MetricName="MemoryUtilization",
                  Dimensions=dims + [{"Name": "ServiceName", "Value": "none"}], StartTime=start,
                  EndTime=end, Period=300, Statistics=["Average"], Unit="Percent")
        data = self.call("GetMetricData", StartTime=start, EndTime=end, ScanBy="TimestampDescending",
                         MetricDataQueries=[
                             {"Id": "cpu", "ReturnData": True, "Label": "CPU",
                              "MetricStat": {"Metric": {"Namespace": "AWS/ECS",
                                                        "MetricName": "CPUReservation",
                                                        "Dimensions": dims},
                                             "Period": 60, "Stat": "Average"}},
                             {"Id": "mem", "MetricStat": {"Metric": {
                                 "Namespace": "AWS/ECS", "MetricName": "MemoryReservation",
                                 "Dimensions": dims}, "Period": 120, "Stat": "Maximum"}}])
        results = data.get("MetricDataResults", [])
        self.expect("GetMetricData", [r.get("Id") for r in results] == ["cpu", "mem"],
                    f"results: {results}")
        for result in results:
            stamps = result.get("Timestamps", [])
            self.expect("GetMetricData", len(stamps) == len(result.get("Values", [])) > 0,
                        f"timestamps and values: {result}")
            self.expect("GetMetricData", stamps == sorted(stamps, reverse=True),
                        f"newest first: {stamps}")
            self.expect("GetMetricData", result.get("StatusCode") == "Complete", f"{result}")
        # Paginated one datapoint a page, over whole minutes only (the current one may still
        # change between pages).
        whole = now.replace(second=0, microsecond=0)
        query = [{"Id": "cpu", "MetricStat": {"Metric": {
            "Namespace": "AWS/ECS", "MetricName": "CPUReservation", "Dimensions": dims},
            "Period": 60, "Stat": "Average"}}]
        whole_data = self.call("GetMetricData", StartTime=start, EndTime=whole,
                               MetricDataQueries=query)
        wanted = [v for r in whole_data.get("MetricDataResults", []) for v in r["Values"]]
        pages: list[dict] = []
        try:
            pages = list(self.client.get_paginator("get_metric_data").paginate(
                StartTime=start, EndTime=whole, PaginationConfig={"PageSize": 1},
                MetricDataQueries=query))
        except (ClientError, BotoCoreError, OSError) as error:
            self.violation("GetMetricData", f"paginating: {error!r}")
        values = [v for p in pages for r in p.get("MetricDataResults", []) for v in r["Values"]]
        self.expect("GetMetricData", len(pages) == max(1, len(wanted)) and values == wanted,
                    f"paginated one datapoint a page: {len(pages)} pages, {values} vs {wanted}")
        listed = self.call("ListMetrics", Namespace="AWS/ECS", MetricName="CPUReservation",
                           Dimensions=[{"Name": "ClusterName", "Value": cluster}])
        self.expect("ListMetrics", len(listed.get("Metrics", [])) == 1, f"{listed}")
        self.call("ListMetrics", RecentlyActive="PT3H")

        self.fail("GetMetricStatistics", {"InvalidParameterValue"}, Namespace="AWS/ECS",
                  MetricName="CPUReservation", StartTime=start, EndTime=end, Period=90,
                  Statistics=["Average"])
        self.fail("GetMetricStatistics", {"InvalidParameterValue"}, Namespace="AWS/ECS",
                  MetricName="CPUReservation", StartTime=end, EndTime=start, Period=60,
                  Statistics=["Average"])
        self.fail("GetMetricStatistics", {"MissingParameter"}, Namespace="AWS/ECS",
                  MetricName="CPUReservation", StartTime=start, EndTime=end, Period=60)
        self.fail("GetMetricStatistics", {"InvalidParameterCombination"}, Namespace="AWS/ECS",
                  MetricName="CPUReservation", StartTime=now - timedelta(days=2), EndTime=now,
                  Period=60, Statistics=["Average"])
        self.fail("GetMetricData", {"ValidationError"}, StartTime=start, EndTime=end,
                  MetricDataQueries=[{"Id": "e1", "Expression": "SUM(METRICS())"}])
        self.fail("GetMetricData", {"ValidationError"}, StartTime=start, EndTime=end,
                  MetricDataQueries=[{"Id": "Bad-Id", "MetricStat": {"Metric": {
                      "Namespace": "AWS/ECS", "MetricName": "CPUReservation"},
                      "Period": 60, "Stat": "Average"}}])
        self.fail("GetMetricData", {"InvalidNextToken"}, StartTime=start, EndTime=end,
                  NextToken="garbage", MetricDataQueries=[{"Id": "m", "MetricStat": {
                      "Metric": {"Namespace": "AWS/ECS", "MetricName": "CPUReservation"},
                      "Period": 60, "Stat": "Average"}}])
        for op in sorted(set(model.operation_names) - IMPLEMENTED):
            self.fail(op, {"InvalidAction"})


def run(endpoint: str, key: tuple[str, str], region: str, cluster: str,
        out: Callable[[str], None]) -> int:
    session = botocore.session.get_session()
    broken = self_test(session.get_service_model("ecs"))
    if broken:
        out("the checker's self-test failed (the validator would miss violations):")
        for problem in broken:
            out(f"  - {problem}")
        return 2
    model = session.get_service_model("cloudwatch")
    check = Conformance(model)
    json_scenario = Scenario(session, check, endpoint, key, region, "json")
    json_scenario.run(cluster, model)
    violations = list(json_scenario.violations) + check.violations
    sent = {"json": json_scenario.seen_content_types}
    if json_scenario.seen_content_types != {check_ecs_model.JSON_CONTENT_TYPE}:
        violations.append(f"[json] botocore sent {json_scenario.seen_content_types}, expected "
                          f"{check_ecs_model.JSON_CONTENT_TYPE} (did botocore change protocols?)")
    for op in sorted(IMPLEMENTED):
        if not check.successes.get(op):
            violations.append(f"[json] {op}: never answered with success, so never validated")

    for protocol, content_type in (("query", "application/x-www-form-urlencoded"),
                                   ("smithy-rpc-v2-cbor", "application/cbor")):
        forced = botocore.session.get_session()
        forced.get_component("data_loader").search_paths.insert(0, model_dir(protocol))
        scenario = Scenario(forced, None, endpoint, key, region, protocol)
        scenario.run(cluster, model)
        violations += scenario.violations
        sent[protocol] = scenario.seen_content_types
        if not all(t.startswith(content_type) for t in scenario.seen_content_types):
            violations.append(f"[{protocol}] botocore sent {scenario.seen_content_types}")

    out(f"botocore {botocore.__version__}, CloudWatch model {model.api_version}: "
        f"{len(model.operation_names)} operations; JSON responses validated: "
        f"{sum(check.responses.values())} ({sum(check.successes.values())} successes); "
        f"query and smithy-rpc-v2-cbor exercised too; botocore sent {sent}")
    if violations:
        out(f"\n{len(violations)} violation(s):")
        for v in violations:
            out(f"  - {v}")
        return 1
    out("no violations")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="e.g. http://127.0.0.1:8080")
    parser.add_argument("--credentials", required=True, help="the server's credentials file")
    parser.add_argument("--region", default="us-east-1", help="the server's region")
    parser.add_argument("--cluster", required=True, help="a cluster with running tasks")
    args = parser.parse_args()
    started = time.monotonic()
    code = run(args.endpoint, read_credentials(args.credentials), args.region, args.cluster, print)
    print(f"({time.monotonic() - started:.1f} s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
