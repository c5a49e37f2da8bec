#!/usr/bin/env python3
"""lb-bench: Flotilla's load balancer against nginx, same targets, same client, same run.

Two demo containers (the demo image's `serve`, asked for its smallest answer, `GET /healthz`)
on Docker's bridge are the targets of both: a Flotilla application load balancer (ip targets,
set up through the ELBv2 API like any user's) and an nginx reverse proxy (upstream keep-alive
pool, X-Forwarded-For like the load balancer's). wrk drives each in turn with the same
connections and duration, in alternating rounds, and the report gives requests/s, p50 and p99
latency, non-2xx answers and socket errors, the CPU the proxy and the targets used, and the
ratios. Everything shares this machine's cores: the numbers compare, they do not promise.

Usage: bench/scripts/lb_bench.py --flotilla-bin target/release/flotilla [--connections 64]
                                 [--duration 10] [--rounds 2] [--threads 2]
Needs Docker, nginx and wrk (Debian: nginx wrk), botocore.
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
import time
import urllib.request

import botocore.session
from botocore.config import Config

DEMO_IMAGE = "flotilla/demo:latest"
LB_RANGE = "127.0.9.1-127.0.9.9"
NGINX_ADDRESS = "127.0.9.100"
PORT = 8081
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (fields 14 and 15 of /proc/PID/stat)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / TICKS


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def wrk(url: str, connections: int, duration: int, threads: int) -> dict:
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not match:
            raise SystemExit(f"no {label} latency in wrk's output:\n{out}")
        value, unit = float(match.group(1)), match.group(2)
        return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": rps, "p50": latency("50%"), "p99": latency("99%"),
            "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
            "errors": sum(int(g) for g in errors.groups()) if errors else 0}


class Stack:
    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="lb-bench-")
        self.processes: list[subprocess.Popen] = []
        self.containers: list[str] = []

    def close(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        if self.containers:
            subprocess.run(["docker", "rm", "-f", *self.containers], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def targets(self, count: int) -> list[str]:
        subprocess.run([self.args.flotilla_bin, "demo", "build-image"], check=True, capture_output=True)
        addresses = []
        for _ in range(count):
            cid = subprocess.run(["docker", "run", "-d", "--rm", DEMO_IMAGE, "serve"],
                                 capture_output=True, text=True, check=True).stdout.strip()
            self.containers.append(cid)
            ip = subprocess.run(["docker", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", cid],
                                capture_output=True, text=True, check=True).stdout.strip()
            addresses.append(ip)
        for ip in addresses:
            wait_http(f"http://{ip}:8080/healthz")
        return addresses

    def target_pids(self) -> list[int]:
        pids = []
        for cid in self.containers:
            out = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", cid],
                                 capture_output=True, text=True, check=True).stdout
            pids.append(int(out))
        return pids

    def flotilla(self, addresses: list[str]) -> tuple[str, list[int]]:
        port = free_port()
        data = os.path.join(self.dir, "flotilla")
        server = subprocess.Popen([self.args.flotilla_bin, "server", "--listen", f"127.0.0.1:{port}",
                                   "--data-dir", data, "--lb-addresses", LB_RANGE],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env={**os.environ, "FLOTILLA_LOG": "warn"})
        self.processes.append(server)
        endpoint = f"http://127.0.0.1:{port}"
        wait_http(f"{endpoint}/healthz")
        # One hollow agent: its zone gives the region a default subnet.
        self.processes.append(subprocess.Popen([self.args.flotilla_bin, "sim", "agents", "--server", endpoint,
                                                "--cluster", "default", "--count", "1",
                                                "--token-file", os.path.join(data, "agent-token")],
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        credentials = configparser.ConfigParser()
        credentials.read(os.path.join(data, "credentials"))
        key = credentials["default"]
        session = botocore.session.get_session()
        def client(service):
            return session.create_client(service, endpoint_url=endpoint, region_name="us-east-1",
                                         aws_access_key_id=key["aws_access_key_id"],
                                         aws_secret_access_key=key["aws_secret_access_key"],
                                         config=Config(retries={"total_max_attempts": 3}))
        ec2, elb = client("ec2"), client("elbv2")
        deadline = time.time() + 20
        while not (subnets := ec2.describe_subnets()["Subnets"]):
            if time.time() > deadline:
                raise SystemExit("the region got no subnet (the hollow agent did not join)")
            time.sleep(0.2)
        lb = elb.create_load_balancer(Name="bench", Subnets=[subnets[0]["SubnetId"]])["LoadBalancers"][0]
        address = lb["AvailabilityZones"][0]["LoadBalancerAddresses"][0]["IpAddress"]
        group = elb.create_target_group(Name="bench", Protocol="HTTP", Port=8080, VpcId=subnets[0]["VpcId"],
                                        TargetType="ip", HealthCheckPath="/healthz",
                                        HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2,
                                        HealthyThresholdCount=2)
        arn = group["TargetGroups"][0]["TargetGroupArn"]
        elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": ip} for ip in addresses])
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=PORT,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": arn}])
        deadline = time.time() + 30
        while True:
            health = elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
            if all(h["TargetHealth"]["State"] == "healthy" for h in health):
                break
            if time.time() > deadline:
                raise SystemExit(f"targets not healthy: {health}")
            time.sleep(0.5)
        url = f"http://{address}:{PORT}/healthz"
        wait_http(url)
        return url, [server.pid]

    def nginx(self, addresses: list[str]) -> tuple[str, list[int]]:
        servers = "\n".join(f"        server {ip}:8080;" for ip in addresses)
        config = os.path.join(self.dir, "nginx.conf")
        with open(config, "w") as f:
            f.write(f"""
worker_processes auto;
pid {self.dir}/nginx.pid;
error_log {self.dir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    upstream targets {{
{servers}
        keepalive 256;
    }}
    server {{
        listen {NGINX_ADDRESS}:{PORT};
        location / {{
            proxy_pass http://targets;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Port $server_port;
        }}
    }}
}}
""")
        master = subprocess.Popen(["nginx", "-c", config, "-p", self.dir, "-g", "daemon off;"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(master)
        url = f"http://{NGINX_ADDRESS}:{PORT}/healthz"
        wait_http(url)
        return url, [master.pid, *children(master.pid)]


def wait_http(url: str, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.time() > deadline:
            raise SystemExit(f"{url} never answered")
        time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flotilla-bin", required=True)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="wrk's threads")
    parser.add_argument("--targets", type=int, default=2)
    args = parser.parse_args()
    stack = Stack(args)
    try:
        addresses = stack.targets(args.targets)
        proxies = {"flotilla": stack.flotilla(addresses), "nginx": stack.nginx(addresses)}
        target_pids = stack.target_pids()
        results: dict[str, list[dict]] = {name: [] for name in proxies}
        for round_ in range(args.rounds):
            for name, (url, pids) in proxies.items():
                print(f"round {round_ + 1}: {name}, {args.connections} connections, {args.duration} s",
                      file=sys.stderr)
                proxy_before, targets_before = cpu_seconds(pids), cpu_seconds(target_pids)
                result = wrk(url, args.connections, args.duration, args.threads)
                result["proxy_cpu"] = (cpu_seconds(pids) - proxy_before) / args.duration
                result["targets_cpu"] = (cpu_seconds(target_pids) - targets_before) / args.duration
                results[name].append(result)
    finally:
        stack.close()

    def best(name: str) -> dict:
        return max(results[name], key=lambda r: r["rps"])

    print(f"\n{args.targets} demo targets (`GET /healthz`), wrk -t{args.threads} -c{args.connections} "
          f"-d{args.duration}s, best of {args.rounds} alternating rounds; CPU in cores\n")
    print("| proxy | requests/s | p50 ms | p99 ms | non-2xx | socket errors | proxy CPU | targets CPU |")
    print("|---|---|---|---|---|---|---|---|")
    for name in results:
        r = best(name)
        print(f"| {name} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['non_2xx']} | {r['errors']} "
              f"| {r['proxy_cpu']:.2f} | {r['targets_cpu']:.2f} |")
    f, n = best("flotilla"), best("nginx")
    print(f"\nflotilla / nginx: throughput {f['rps'] / n['rps']:.2f}x (goal >= 0.9), "
          f"p99 {f['p99'] / n['p99']:.2f}x (goal <= 1.2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
