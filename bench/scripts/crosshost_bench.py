#!/usr/bin/env python3
"""crosshost-bench: task-to-task throughput across two hosts against the raw link between them.

Two simulated hosts on this machine, as the two-host E2E test builds them: a bridge of the
bench's own (the segment), two network namespaces on it, each with its own Docker Engine
(fuse-overlayfs) and a Flotilla agent; a Flotilla server on the segment's first address. One
awsvpc task runs on each host (same security group, which lets its members in). iperf3 (the
host's, entered into the namespaces with nsenter) measures, in alternating rounds:
  raw    host A's namespace -> host B's address (the veth pair and the bridge: the link)
  tasks  task A's namespace -> task B's address (plus both tasks' veths and bridges, the hosts'
         routing and the tasks' firewalls)
and prints the medians and the tasks/raw ratio. Everything shares this machine's cores: the
numbers compare, they do not promise.

Usage: bench/scripts/crosshost_bench.py --flotilla-bin target/release/flotilla [--rounds 3]
                                        [--seconds 5]
Needs root, Docker, fuse-overlayfs, iperf3, Debian's containernetworking-plugins, botocore.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import stack
from stack import clients, wait_http

SEGMENT = "192.168.251"
BRIDGE = "flbenchseg"
VPC_CIDR = "10.232.0.0/16"


def sh(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()


class Bench:
    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="crosshost-bench-")
        self.processes: list[subprocess.Popen] = []
        self.hosts: list[dict] = []

    def close(self) -> None:
        for host in self.hosts:
            ids = subprocess.run(["docker", "-H", host["socket"], "ps", "-aq"], capture_output=True,
                                 text=True).stdout.split()
            if ids:
                subprocess.run(["docker", "-H", host["socket"], "rm", "-f", *ids], capture_output=True)
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        for host in self.hosts:
            subprocess.run(["ip", "netns", "del", host["netns"]], capture_output=True)
        subprocess.run(["iptables", "-w", "5", "-D", "FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT"],
                       capture_output=True)
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def segment(self) -> None:
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", f"{SEGMENT}.1/24", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")
        # A switch: the root namespace's FORWARD chain sees bridged traffic (Docker sets DROP).
        sh("iptables", "-w", "5", "-I", "FORWARD", "1", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT")

    def host(self, n: int) -> dict:
        netns, outer, address = f"flbench{n}", f"flbench{n}o", f"{SEGMENT}.{n + 1}"
        home = os.path.join(self.dir, f"host{n}")
        os.makedirs(home)
        sh("ip", "netns", "add", netns)
        self.hosts.append({"netns": netns, "socket": f"unix://{home}/docker.sock", "address": address})
        sh("ip", "link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", netns)
        sh("ip", "link", "set", outer, "master", BRIDGE, "up")
        for command in (["ip", "addr", "add", f"{address}/24", "dev", "eth0"], ["ip", "link", "set", "eth0", "up"],
                        ["ip", "link", "set", "lo", "up"], ["ip", "route", "add", "default", "via", f"{SEGMENT}.1"]):
            sh("ip", "netns", "exec", netns, *command)
        with open(os.path.join(home, "daemon.json"), "w") as f:
            f.write("{}")
        self.processes.append(subprocess.Popen(
            ["nsenter", f"--net=/var/run/netns/{netns}", "dockerd", "--config-file", f"{home}/daemon.json",
             "--data-root", f"{home}/data", "--exec-root", f"{home}/exec", "--pidfile", f"{home}/docker.pid",
             "--host", f"unix://{home}/docker.sock", "--storage-driver", "fuse-overlayfs"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.time() + 60
        while subprocess.run(["docker", "-H", f"unix://{home}/docker.sock", "info"], capture_output=True).returncode:
            if time.time() > deadline:
                raise SystemExit("a host's Docker Engine did not start")
            time.sleep(0.3)
        subprocess.run(f"docker save flotilla/demo:latest | docker -H unix://{home}/docker.sock load", shell=True,
                       check=True, capture_output=True)
        self.hosts[-1]["home"] = home
        return self.hosts[-1]

    def start(self) -> None:
        binary = self.args.flotilla_bin
        subprocess.run([binary, "demo", "build-image"], check=True, capture_output=True)
        self.segment()
        port = 18720
        data = os.path.join(self.dir, "server")
        quiet = {**os.environ, "FLOTILLA_LOG": "warn"}
        self.processes.append(subprocess.Popen(
            [binary, "server", "--listen", f"0.0.0.0:{port}", "--data-dir", data, "--vpc-cidr", VPC_CIDR],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=quiet))
        endpoint = f"http://127.0.0.1:{port}"
        wait_http(f"{endpoint}/healthz")
        for n in (1, 2):
            host = self.host(n)
            self.processes.append(subprocess.Popen(
                ["nsenter", f"--net=/var/run/netns/{host['netns']}", binary, "agent", "--server",
                 f"http://{SEGMENT}.1:{port}", "--cluster", "default", "--token-file", f"{data}/agent-token",
                 "--data-dir", f"{host['home']}/agent", "--docker-host", host["socket"], "--advertise-address",
                 host["address"], "--dns", "off", "--metadata-port", "0"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=quiet))
        self.ecs, ec2 = clients(endpoint, data, "ecs", "ec2")
        deadline = time.time() + 60
        while len(arns := self.ecs.list_container_instances(cluster="default")["containerInstanceArns"]) < 2:
            if time.time() > deadline:
                raise SystemExit("the two hosts did not join")
            time.sleep(0.3)
        subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
        definition = self.ecs.register_task_definition(
            family="crosshost", networkMode="awsvpc",
            containerDefinitions=[{"name": "main", "image": "flotilla/demo:latest", "memory": 64,
                                   "command": ["sleep"]}])["taskDefinition"]["taskDefinitionArn"]
        self.tasks = []
        for arn in arns:
            task = self.ecs.start_task(cluster="default", taskDefinition=definition, containerInstances=[arn],
                                       networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet]}})
            self.tasks.append(task["tasks"][0]["taskArn"])
        deadline = time.time() + 90
        while True:
            described = self.ecs.describe_tasks(cluster="default", tasks=self.tasks)["tasks"]
            if all(t["lastStatus"] == "RUNNING" for t in described):
                break
            if time.time() > deadline:
                raise SystemExit(f"the tasks did not run: {[t['lastStatus'] for t in described]}")
            time.sleep(0.3)
        self.ends = []
        for task in described:
            address = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}["privateIPv4Address"]
            container = task["containers"][0]["runtimeId"]
            for host in self.hosts:
                pid = subprocess.run(["docker", "-H", host["socket"], "inspect", "-f", "{{.State.Pid}}", container],
                                     capture_output=True, text=True).stdout.strip()
                if pid:
                    self.ends.append({"address": address, "netns": f"/proc/{pid}/ns/net", "host": host})

    def iperf(self, server_netns: str, client_netns: str, address: str) -> float:
        """Bits per second from `client_netns` to iperf3 -s in `server_netns` at `address`."""
        server = subprocess.Popen(["nsenter", f"--net={server_netns}", "iperf3", "-s", "-1", "-p", "5299"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        try:
            out = subprocess.run(["nsenter", f"--net={client_netns}", "iperf3", "-c", address, "-p", "5299",
                                  "-t", str(self.args.seconds), "-J"], capture_output=True, text=True, check=True).stdout
        finally:
            server.wait(timeout=30)
        return json.loads(out)["end"]["sum_received"]["bits_per_second"]

    def run(self) -> int:
        a, b = self.ends
        results = {"raw": [], "tasks": []}
        for n in range(self.args.rounds):
            order = ["raw", "tasks"] if n % 2 == 0 else ["tasks", "raw"]
            for kind in order:
                if kind == "raw":
                    bps = self.iperf(f"/var/run/netns/{b['host']['netns']}", f"/var/run/netns/{a['host']['netns']}",
                                     b["host"]["address"])
                else:
                    bps = self.iperf(b["netns"], a["netns"], b["address"])
                results[kind].append(bps)
                print(f"round {n + 1} {kind}: {bps / 1e9:.2f} Gbit/s", file=sys.stderr)
        print(f"TCP throughput across two hosts, iperf3 {self.args.seconds} s x {self.args.rounds} rounds, alternated")
        for kind, values in results.items():
            print(f"{kind:<6} median {statistics.median(values) / 1e9:.2f} Gbit/s  "
                  f"(min {min(values) / 1e9:.2f}, max {max(values) / 1e9:.2f})")
        ratio = statistics.median(results["tasks"]) / statistics.median(results["raw"])
        print(f"tasks / raw (medians): {ratio:.2f}x")
        for task in self.tasks:
            self.ecs.stop_task(cluster="default", task=task)
        time.sleep(3)
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flotilla-bin", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    return stack.run(Bench(args))


if __name__ == "__main__":
    sys.exit(main())
