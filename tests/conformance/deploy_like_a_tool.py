"""What an ECS deployment tool does, with botocore and its waiters, unchanged: register a
revision, create a service with the circuit breaker, wait for services-stable, deploy a new
revision, scale, run a one-off task and wait for tasks-stopped, deploy a crashing revision and
watch it roll back, delete the service and wait for services-inactive. Run against a Flotilla
server with a connected agent in CLUSTER (and in any region of the partition).

Usage: deploy_like_a_tool.py --endpoint URL --credentials FILE --region REGION --cluster NAME
Exits 0 when every step did what it does on ECS; prints the failing step otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid

import botocore.session
from botocore.config import Config

from check_ecs_model import read_credentials

# Tools poll every few seconds; a test need not wait as long between polls.
FAST = {"Delay": 1, "MaxAttempts": 90}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--credentials", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--cluster", required=True)
    args = parser.parse_args()
    key = read_credentials(args.credentials)
    ecs = botocore.session.get_session().create_client(
        "ecs", endpoint_url=args.endpoint, region_name=args.region,
        aws_access_key_id=key[0], aws_secret_access_key=key[1],
        config=Config(retries={"total_max_attempts": 1}),
    )
    cluster = args.cluster
    family = f"tool-{uuid.uuid4().hex[:8]}"

    def revision(command: list[str], env: str) -> str:
        out = ecs.register_task_definition(family=family, containerDefinitions=[{
            "name": "web", "image": "flotilla/demo:latest", "memory": 64, "command": command,
            "environment": [{"name": "RELEASE", "value": env}],
            "healthCheck": {"command": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/healthz || exit 1"],
                            "interval": 5, "timeout": 2, "retries": 2},
        }])
        return out["taskDefinition"]["taskDefinitionArn"]

    def service() -> dict:
        return ecs.describe_services(cluster=cluster, services=["web"])["services"][0]

    def step(name: str, ok: bool, detail: object = "") -> None:
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
        if not ok:
            raise SystemExit(f"step failed: {name}: {detail}")

    v1 = revision(["serve"], "v1")
    ecs.create_service(
        cluster=cluster, serviceName="web", taskDefinition=v1, desiredCount=2,
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True},
                                 "minimumHealthyPercent": 50, "maximumPercent": 200},
    )
    ecs.get_waiter("services_stable").wait(cluster=cluster, services=["web"], WaiterConfig=FAST)
    step("create and wait for services-stable", service()["runningCount"] == 2, service())

    v2 = revision(["serve"], "v2")
    ecs.update_service(cluster=cluster, service="web", taskDefinition=v2)
    ecs.get_waiter("services_stable").wait(cluster=cluster, services=["web"], WaiterConfig=FAST)
    s = service()
    step("deploy a revision", s["taskDefinition"] == v2 and len(s["deployments"]) == 1, s)

    ecs.update_service(cluster=cluster, service="web", desiredCount=3)
    ecs.get_waiter("services_stable").wait(cluster=cluster, services=["web"], WaiterConfig=FAST)
    step("scale", service()["runningCount"] == 3, service())

    run = ecs.run_task(cluster=cluster, taskDefinition=v2, startedBy="tool",
                       overrides={"containerOverrides": [{"name": "web", "command": ["exit", "0"]}]})
    task = run["tasks"][0]["taskArn"]
    ecs.get_waiter("tasks_stopped").wait(cluster=cluster, tasks=[task], WaiterConfig=FAST)
    done = ecs.describe_tasks(cluster=cluster, tasks=[task])["tasks"][0]
    step("a one-off task runs to its end", done["containers"][0].get("exitCode") == 0, done)

    bad = revision(["exit", "1"], "v3")
    ecs.update_service(cluster=cluster, service="web", taskDefinition=bad)
    deadline = time.time() + 120
    while time.time() < deadline:
        s = service()
        if s["taskDefinition"] == v2 and s["deployments"][0]["taskDefinition"] == v2:
            break
        time.sleep(1)
    messages = [e["message"] for e in service()["events"]]
    step("a crashing revision rolls back", service()["taskDefinition"] == v2
         and any("rolling back" in m for m in messages), messages[:5])
    ecs.get_waiter("services_stable").wait(cluster=cluster, services=["web"], WaiterConfig=FAST)
    step("stable again on the last good revision", service()["runningCount"] == 3, service())

    ecs.delete_service(cluster=cluster, service="web", force=True)
    ecs.get_waiter("services_inactive").wait(cluster=cluster, services=["web"], WaiterConfig=FAST)
    step("delete and wait for services-inactive", service()["status"] == "INACTIVE", service())
    return 0


if __name__ == "__main__":
    sys.exit(main())
