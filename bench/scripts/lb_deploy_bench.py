#!/usr/bin/env python3
"""lb-deploy-bench: 64 connections of load on an ECS service behind a Flotilla load balancer,
through a rolling deployment and through a killed task: counts of answers, non-2xx answers and
socket errors, and the worst latency, as wrk reports them.

It starts `flotilla dev` (server and a local agent), creates through the APIs an application
load balancer, an instance target group (health checks every 5 s, deregistration delay 5 s)
and a service of 4 demo tasks (`GET /healthz`, the demo's smallest answer) behind it, waits for
the deployment to complete, then:

1. rolling deployment: wrk runs while UpdateService deploys a new revision (minimum 100 %,
   maximum 200 %) until the new deployment has completed and the old tasks are gone;
   goal: 0 non-2xx and 0 socket errors;
2. killed task: wrk runs while one task's container is killed with `docker kill` (SIGKILL);
   goal: errors only for requests in flight to that task when it died.

Usage: bench/scripts/lb_deploy_bench.py --flotilla-bin target/release/flotilla
                                        [--connections 64] [--threads 2]
Needs Docker, wrk (Debian: wrk) and botocore.
"""

from __future__ import annotations

import argparse
import configparser
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import botocore.session
from botocore.config import Config

LB_RANGE = "127.0.9.20-127.0.9.29"
PORT = 8082


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(what: str, check, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while not check():
        if time.time() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.5)


def run_wrk(url: str, connections: int, threads: int, seconds: int, out: dict) -> None:
    text = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                          capture_output=True, text=True).stdout
    requests = re.search(r"(\d+) requests in", text)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    worst = re.search(r"Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", text)
    out["requests"] = int(requests.group(1)) if requests else 0
    out["non_2xx"] = int(non_2xx.group(1)) if non_2xx else 0
    out["errors"] = sum(int(g) for g in errors.groups()) if errors else 0
    out["max_ms"] = float(worst.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[worst.group(2)] if worst else None
    out["raw"] = text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flotilla-bin", required=True)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="lb-deploy-bench-")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    cluster = f"bench{port}"
    dev = subprocess.Popen([args.flotilla_bin, "dev", "--listen", f"127.0.0.1:{port}", "--data-dir", directory,
                            "--lb-addresses", LB_RANGE, "--cluster", cluster],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "FLOTILLA_LOG": "warn"})
    try:
        wait("the server", lambda: urllib.request.urlopen(f"{endpoint}/healthz", timeout=2).status == 200
             if _up(endpoint) else False, 60)
        credentials = configparser.ConfigParser()
        credentials.read(os.path.join(directory, "credentials"))
        key = credentials["default"]
        session = botocore.session.get_session()
        def client(service):
            return session.create_client(service, endpoint_url=endpoint, region_name="us-east-1",
                                         aws_access_key_id=key["aws_access_key_id"],
                                         aws_secret_access_key=key["aws_secret_access_key"],
                                         config=Config(retries={"total_max_attempts": 3}))
        ecs, elb, ec2 = client("ecs"), client("elbv2"), client("ec2")
        def agent_joined() -> bool:
            try:
                return bool(ecs.list_container_instances(cluster=cluster)["containerInstanceArns"])
            except ecs.exceptions.ClusterNotFoundException:
                return False  # `flotilla dev` creates it right after it serves
        wait("the agent", agent_joined, 60)
        subnet = ec2.describe_subnets()["Subnets"][0]
        lb = elb.create_load_balancer(Name="deploy", Subnets=[subnet["SubnetId"]])["LoadBalancers"][0]
        address = lb["AvailabilityZones"][0]["LoadBalancerAddresses"][0]["IpAddress"]
        group = elb.create_target_group(Name="deploy", Protocol="HTTP", Port=8080, VpcId=subnet["VpcId"],
                                        HealthCheckPath="/healthz", HealthCheckIntervalSeconds=5,
                                        HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
                                        UnhealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
        elb.modify_target_group_attributes(TargetGroupArn=group, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "5"}])
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=PORT,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": group}])
        container = {"name": "web", "image": "flotilla/demo:latest", "memory": 32, "command": ["serve"],
                     "portMappings": [{"containerPort": 8080, "hostPort": 0}]}
        first = ecs.register_task_definition(family="lb-deploy-bench", containerDefinitions=[container])
        ecs.create_service(cluster=cluster, serviceName="web", desiredCount=4,
                           taskDefinition=first["taskDefinition"]["taskDefinitionArn"],
                           loadBalancers=[{"targetGroupArn": group, "containerName": "web", "containerPort": 8080}],
                           deploymentConfiguration={"minimumHealthyPercent": 100, "maximumPercent": 200})

        def completed() -> bool:
            service = ecs.describe_services(cluster=cluster, services=["web"])["services"][0]
            return (len(service["deployments"]) == 1 and service["deployments"][0].get("rolloutState") == "COMPLETED"
                    and service["runningCount"] == 4)
        wait("the first deployment", completed, 180)
        url = f"http://{address}:{PORT}/healthz"
        rows = []

        # 1. A rolling deployment under load.
        result: dict = {}
        load = threading.Thread(target=run_wrk, args=(url, args.connections, args.threads, 60, result))
        load.start()
        time.sleep(3)
        second = ecs.register_task_definition(family="lb-deploy-bench", containerDefinitions=[container])
        started = time.time()
        ecs.update_service(cluster=cluster, service="web", taskDefinition=second["taskDefinition"]["taskDefinitionArn"])
        time.sleep(1)
        wait("the rolling deployment", completed, 55)
        took = time.time() - started
        load.join()
        rows.append(("rolling deployment (4 tasks)", result, f"deployment took {took:.0f} s within the run"))

        # 2. A task killed under load.
        result = {}
        load = threading.Thread(target=run_wrk, args=(url, args.connections, args.threads, 20, result))
        load.start()
        time.sleep(3)
        arns = ecs.list_tasks(cluster=cluster, serviceName="web", desiredStatus="RUNNING")["taskArns"]
        task = ecs.describe_tasks(cluster=cluster, tasks=arns[:1])["tasks"][0]
        runtime = task["containers"][0]["runtimeId"]
        subprocess.run(["docker", "kill", runtime], check=True, capture_output=True)
        load.join()
        rows.append(("a task killed (SIGKILL)", result, "its replacement registered by the service"))

        print(f"\nwrk -t{args.threads} -c{args.connections} against `GET /healthz` of 4 demo tasks "
              f"behind a Flotilla load balancer\n")
        print("| phase | requests | non-2xx | socket errors | worst latency ms | note |")
        print("|---|---|---|---|---|---|")
        for name, r, note in rows:
            print(f"| {name} | {r['requests']} | {r['non_2xx']} | {r['errors']} | {r['max_ms']} | {note} |")
        ecs.update_service(cluster=cluster, service="web", desiredCount=0)
        ecs.delete_service(cluster=cluster, service="web")
        return 0
    finally:
        dev.terminate()
        try:
            dev.wait(timeout=30)
        except subprocess.TimeoutExpired:
            dev.kill()
        # The demo containers of the service, if any are left.
        left = subprocess.run(["docker", "ps", "-aq", "--filter", "label=com.amazonaws.ecs.task-definition-family=lb-deploy-bench"],
                              capture_output=True, text=True).stdout.split()
        if left:
            subprocess.run(["docker", "rm", "-f", *left], capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)


def _up(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/healthz", timeout=2):
            return True
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
