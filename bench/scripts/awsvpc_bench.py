#!/usr/bin/env python3
"""awsvpc-bench: what a task network of its own costs at start. One Flotilla server and one agent
(with Debian's CNI plugins); the same image and command run as a bridge task and as an awsvpc task
(pause container, CNI bridge + host-local + firewall, security group rules), alternating which
goes first, each timed from sending RunTask to the first DescribeTasks answer with lastStatus
RUNNING (polled every --poll-ms on the same client). The report gives median, p90 and the
awsvpc/bridge ratio of the medians (the issue's goal: at most 1.3). Everything shares this
machine's cores: the numbers compare, they do not promise.

Usage: bench/scripts/awsvpc_bench.py --flotilla-bin target/release/flotilla [--rounds 20]
                                     [--warmup 2] [--poll-ms 10]
Needs Docker, Debian's containernetworking-plugins, botocore.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import stack
from stack import clients, remove_subnet_bridges, wait_http

DEMO_IMAGE = "flotilla/demo:latest"
VPC_CIDR = "10.231.0.0/16"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bench:
    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="awsvpc-bench-")
        self.processes: list[subprocess.Popen] = []
        self.subnet = ""

    def close(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        # The agent leaves tasks running on shutdown: none should be, but remove its containers.
        ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.flotilla.agent={self.host_id}"],
                             capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
        if self.subnet:
            remove_subnet_bridges(self.subnet)
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self) -> None:
        subprocess.run([self.args.flotilla_bin, "demo", "build-image"], check=True, capture_output=True)
        port = free_port()
        data = os.path.join(self.dir, "server")
        quiet = {**os.environ, "FLOTILLA_LOG": "warn"}
        self.processes.append(subprocess.Popen(
            [self.args.flotilla_bin, "server", "--listen", f"127.0.0.1:{port}", "--data-dir", data,
             "--vpc-cidr", VPC_CIDR], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=quiet))
        endpoint = f"http://127.0.0.1:{port}"
        wait_http(f"{endpoint}/healthz")
        agent_dir = os.path.join(self.dir, "agent")
        self.processes.append(subprocess.Popen(
            [self.args.flotilla_bin, "agent", "--server", endpoint, "--cluster", "default",
             "--token-file", os.path.join(data, "agent-token"), "--data-dir", agent_dir,
             "--task-cleanup-wait", "5", "--metadata-port", "0", "--dns", "off", "--memory", "100000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=quiet))
        self.ecs, ec2 = clients(endpoint, data, "ecs", "ec2")
        deadline = time.time() + 30
        while not self.ecs.list_container_instances(cluster="default")["containerInstanceArns"]:
            if time.time() > deadline:
                raise SystemExit("the agent did not join")
            time.sleep(0.2)
        described = self.ecs.describe_container_instances(
            cluster="default",
            containerInstances=self.ecs.list_container_instances(cluster="default")["containerInstanceArns"])
        self.host_id = described["containerInstances"][0]["ec2InstanceId"]
        subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
        self.subnet = subnet
        # The tasks' group lets nothing in but its members: the usual shape, with rules to apply.
        container = {"name": "main", "image": DEMO_IMAGE, "command": ["sleep"], "memory": 32, "cpu": 16}
        self.bridge = self.ecs.register_task_definition(
            family="bench-bridge", containerDefinitions=[container])["taskDefinition"]["taskDefinitionArn"]
        self.awsvpc = self.ecs.register_task_definition(
            family="bench-awsvpc", networkMode="awsvpc",
            containerDefinitions=[container])["taskDefinition"]["taskDefinitionArn"]
        self.network = {"awsvpcConfiguration": {"subnets": [subnet]}}

    def once(self, awsvpc: bool) -> float:
        """Seconds from RunTask to RUNNING; then stops the task (untimed) and waits until it is."""
        poll = self.args.poll_ms / 1000
        request = {"cluster": "default", "taskDefinition": self.awsvpc if awsvpc else self.bridge}
        if awsvpc:
            request["networkConfiguration"] = self.network
        started = time.perf_counter()
        task = self.ecs.run_task(**request)["tasks"][0]["taskArn"]
        while True:
            status = self.ecs.describe_tasks(cluster="default", tasks=[task])["tasks"][0]["lastStatus"]
            if status == "RUNNING":
                elapsed = time.perf_counter() - started
                break
            if status == "STOPPED":
                raise SystemExit(f"a {'awsvpc' if awsvpc else 'bridge'} task stopped before running")
            time.sleep(poll)
        self.ecs.stop_task(cluster="default", task=task)
        while self.ecs.describe_tasks(cluster="default", tasks=[task])["tasks"][0]["lastStatus"] != "STOPPED":
            time.sleep(0.05)
        time.sleep(self.args.settle_ms / 1000)
        return elapsed

    def run(self) -> int:
        times = {"bridge": [], "awsvpc": []}
        for n in range(self.args.warmup + self.args.rounds):
            order = [False, True] if n % 2 == 0 else [True, False]
            for awsvpc in order:
                elapsed = self.once(awsvpc)
                if n >= self.args.warmup:
                    times["awsvpc" if awsvpc else "bridge"].append(elapsed)
            if n >= self.args.warmup:
                print(f"round {n - self.args.warmup + 1}: bridge {times['bridge'][-1] * 1000:.0f} ms, "
                      f"awsvpc {times['awsvpc'][-1] * 1000:.0f} ms", file=sys.stderr)

        def p90(values: list[float]) -> float:
            ordered = sorted(values)
            return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
        print(f"RunTask -> RUNNING, {self.args.rounds} rounds each, alternated (ms)")
        print(f"{'task':<8} {'median':>8} {'p90':>8} {'min':>8} {'max':>8}")
        for name, values in times.items():
            print(f"{name:<8} {statistics.median(values) * 1000:>8.0f} {p90(values) * 1000:>8.0f} "
                  f"{min(values) * 1000:>8.0f} {max(values) * 1000:>8.0f}")
        ratio = statistics.median(times["awsvpc"]) / statistics.median(times["bridge"])
        print(f"awsvpc / bridge (medians): {ratio:.2f}x (goal <= 1.3x)")
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flotilla-bin", required=True)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--poll-ms", type=int, default=10)
    parser.add_argument("--settle-ms", type=int, default=300)
    args = parser.parse_args()
    bench = Bench(args)
    bench.host_id = "none"
    return stack.run(bench)


if __name__ == "__main__":
    sys.exit(main())
