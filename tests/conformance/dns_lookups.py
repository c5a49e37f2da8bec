"""DNS from inside a task: lookups by busybox's nslookup and wget in a running task's container
(`docker exec`), answered by the DNS server of the agent that runs it.

Set up with botocore as a CLI run would: a Cloud Map private DNS namespace `prod.local` with a
service `web` (SRV and A records), an ECS service `dns-web` of demo servers registered in it,
an application load balancer, and a client task (`sleep`) whose container asks the questions.

Checks:
  - `web.prod.local` SRV names each running task (`<task id>.web.prod.local`, its host port),
    the A records name the tasks' host, and an HTTP GET by name and port reaches a task;
  - a name in the namespace that does not exist is NXDOMAIN; a load balancer's DNSName resolves
    to its address; other names are forwarded to the agent's upstream (--upstream-name,
    answered with --upstream-address);
  - a task that becomes healthy is in DNS as soon as Cloud Map lists it (the next lookup);
  - a task that is being stopped is out of DNS before SIGTERM (checked at each lookup against
    the task's status read just before it).

Usage: dns_lookups.py --endpoint URL --credentials FILE --region R --cluster C
                      --upstream-name NAME --upstream-address IP
Exits 0 when every check held, 1 otherwise.
"""

from __future__ import annotations

import argparse
import subprocess
import time

import botocore.session
from botocore.config import Config

from check_ecs_model import read_credentials

DEMO = "flotilla/demo:latest"


class Lookups:
    def __init__(self, ecs, sd, elb, ec2, cluster: str):
        self.ecs, self.sd, self.elb, self.cluster = ecs, sd, elb, cluster
        self.failures: list[str] = []
        subnets = ec2.describe_subnets()["Subnets"]
        self.subnet, self.vpc = subnets[0]["SubnetId"], subnets[0]["VpcId"]
        self.client = ""

    def expect(self, what: str, ok: bool, detail: object = "") -> None:
        if not ok:
            self.failures.append(f"{what}: {detail}")

    def wait(self, what: str, probe, seconds: float = 60):
        deadline = time.time() + seconds
        while time.time() < deadline:
            found = probe()
            if found:
                return found
            time.sleep(0.3)
        self.expect(what, False, "timed out")
        return None

    def inside(self, script: str) -> tuple[int, str]:
        """Runs a shell script in the client task's container: its exit code and output."""
        done = subprocess.run(["docker", "exec", self.client, "/bin/sh", "-c", script],
                              capture_output=True, text=True, timeout=30)
        return done.returncode, done.stdout + done.stderr

    def srv(self) -> dict[str, int]:
        """The SRV answer for web.prod.local: task id -> port."""
        _, output = self.inside("nslookup -type=srv web.prod.local")
        found = {}
        for line in output.splitlines():
            if "service =" in line:
                _, _, port, target = line.split("=", 1)[1].split()
                found[target.rstrip(".").split(".", 1)[0]] = int(port)
        return found

    def running(self) -> dict[str, int]:
        """The service's RUNNING tasks: task id -> host port of container port 8080."""
        arns = self.ecs.list_tasks(cluster=self.cluster, serviceName="dns-web", desiredStatus="RUNNING")["taskArns"]
        tasks = self.ecs.describe_tasks(cluster=self.cluster, tasks=arns)["tasks"] if arns else []
        return {t["taskArn"].rsplit("/", 1)[1]: b["hostPort"] for t in tasks if t["lastStatus"] == "RUNNING"
                for c in t["containers"] for b in c.get("networkBindings", []) if b.get("containerPort") == 8080}

    def discovered(self) -> set[str]:
        found = self.sd.discover_instances(NamespaceName="prod.local", ServiceName="web", HealthStatus="ALL")
        return {i["InstanceId"] for i in found["Instances"]}

    def start_client(self) -> None:
        container = {"name": "client", "image": DEMO, "memory": 32, "command": ["sleep"]}
        definition = self.ecs.register_task_definition(family="dns-client", containerDefinitions=[container])
        arn = definition["taskDefinition"]["taskDefinitionArn"]
        task = self.ecs.run_task(cluster=self.cluster, taskDefinition=arn)["tasks"][0]["taskArn"]

        def runtime_id():
            described = self.ecs.describe_tasks(cluster=self.cluster, tasks=[task])["tasks"][0]
            return described["lastStatus"] == "RUNNING" and described["containers"][0].get("runtimeId")
        self.client = self.wait("the client task runs", runtime_id) or ""

    def run(self, upstream_name: str, upstream_address: str) -> None:
        op = self.sd.create_private_dns_namespace(Name="prod.local", Vpc=self.vpc)["OperationId"]
        namespace = self.sd.get_operation(OperationId=op)["Operation"]["Targets"]["NAMESPACE"]
        registry = self.sd.create_service(
            Name="web", NamespaceId=namespace, HealthCheckCustomConfig={"FailureThreshold": 1},
            DnsConfig={"RoutingPolicy": "MULTIVALUE",
                       "DnsRecords": [{"Type": "SRV", "TTL": 10}, {"Type": "A", "TTL": 10}]})["Service"]
        self.start_client()
        if not self.client:
            return
        resolv = self.inside("cat /etc/resolv.conf")[1]
        self.expect("the task has a resolver", "nameserver" in resolv, resolv)

        container = {"name": "web", "image": DEMO, "memory": 64, "command": ["serve"],
                     "portMappings": [{"containerPort": 8080, "hostPort": 0}]}
        definition = self.ecs.register_task_definition(family="dns-web", containerDefinitions=[container])
        self.ecs.create_service(cluster=self.cluster, serviceName="dns-web",
                                taskDefinition=definition["taskDefinition"]["taskDefinitionArn"], desiredCount=2,
                                serviceRegistries=[{"registryArn": registry["Arn"], "containerName": "web",
                                                    "containerPort": 8080}])
        tasks = self.wait("two tasks run and are in Cloud Map",
                          lambda: (lambda r: len(r) == 2 and set(r) <= self.discovered() and r)(self.running()))
        if not tasks:
            return
        # Cloud Map lists them: the very next lookup finds them.
        found = self.srv()
        self.expect("SRV names each task at its host port as soon as Cloud Map lists it", found == tasks,
                    (found, tasks))
        code, output = self.inside("nslookup -type=a web.prod.local")
        addresses = {line.split(":", 1)[1].strip() for line in output.splitlines()[2:] if line.startswith("Address")}
        self.expect("A records name the tasks' host", code == 0 and len(addresses) == 1, output)
        for task, port in tasks.items():
            code, body = self.inside(f"timeout 10 wget -qO- http://{task}.web.prod.local:{port}/healthz")
            self.expect("a task reached by its SRV target name and port", code == 0 and body.strip() == "ok",
                        (task, code, body))
        code, output = self.inside("nslookup nope.prod.local")
        self.expect("a name of the namespace that does not exist", code != 0 and "NXDOMAIN" in output, output)

        lb = self.elb.create_load_balancer(Name="dns-lb", Subnets=[self.subnet])["LoadBalancers"][0]
        address = lb["AvailabilityZones"][0]["LoadBalancerAddresses"][0]["IpAddress"]
        _, output = self.inside(f"nslookup -type=a {lb['DNSName']}")
        self.expect("a load balancer's name resolves to its address", f"Address: {address}" in output,
                    (lb["DNSName"], address, output))
        _, output = self.inside(f"nslookup -type=a {upstream_name}")
        self.expect("other names are forwarded to the upstream", f"Address: {upstream_address}" in output, output)

        # Scale down: the stopping task leaves DNS before it gets SIGTERM.
        self.ecs.update_service(cluster=self.cluster, service="dns-web", desiredCount=1)
        leaving, lookups, deadline = None, 0, time.time() + 60
        while time.time() < deadline:
            arns = self.ecs.list_tasks(cluster=self.cluster, serviceName="dns-web", desiredStatus="STOPPED")["taskArns"]
            if arns:
                task = self.ecs.describe_tasks(cluster=self.cluster, tasks=arns)["tasks"][0]
                leaving = task["taskArn"].rsplit("/", 1)[1]
                status = task["lastStatus"]
                in_dns = leaving in self.srv()
                lookups += 1
                if status in ("STOPPING", "DEPROVISIONING", "STOPPED"):
                    self.expect("out of DNS before SIGTERM", not in_dns, status)
                if status == "STOPPED":
                    break
        self.expect("the stopping task was watched", leaving is not None and lookups > 1, (leaving, lookups))
        remaining = self.srv()
        self.expect("one task left in DNS", len(remaining) == 1 and leaving not in remaining, remaining)

        # Scale up: a new task is in DNS at the first lookup after Cloud Map lists it.
        self.ecs.update_service(cluster=self.cluster, service="dns-web", desiredCount=2)
        tasks = self.wait("a new task runs and is in Cloud Map",
                          lambda: (lambda r: len(r) == 2 and set(r) <= self.discovered() and r)(self.running()))
        if tasks:
            found = self.srv()
            self.expect("a new task is in DNS at the next lookup", found == tasks, (found, tasks))

        self.ecs.update_service(cluster=self.cluster, service="dns-web", desiredCount=0)
        self.ecs.delete_service(cluster=self.cluster, service="dns-web")
        self.wait("a deleted service's tasks leave DNS", lambda: self.srv() == {})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--credentials", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--upstream-name", required=True)
    parser.add_argument("--upstream-address", required=True)
    args = parser.parse_args()
    key = read_credentials(args.credentials)
    session = botocore.session.get_session()
    ecs, sd, elb, ec2 = (session.create_client(
        service, endpoint_url=args.endpoint, region_name=args.region,
        aws_access_key_id=key[0], aws_secret_access_key=key[1],
        # DiscoverInstances goes to the data- host unless told not to: data-127.0.0.1 is no name.
        config=Config(retries={"total_max_attempts": 1}, inject_host_prefix=False),
    ) for service in ("ecs", "servicediscovery", "elbv2", "ec2"))
    lookups = Lookups(ecs, sd, elb, ec2, args.cluster)
    lookups.run(args.upstream_name, args.upstream_address)
    for failure in lookups.failures:
        print(f"FAIL {failure}")
    print(f"DNS lookups from a task: {len(lookups.failures)} failure(s)")
    return 1 if lookups.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
