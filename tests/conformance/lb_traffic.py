"""Real HTTP through a Flotilla load balancer, set up with botocore as a CLI run would: demo
servers (tasks of a real agent, at host ports of one instance) behind an application load
balancer's listener. Each answer of a demo server names its container (`hostname`) and the
X-Forwarded-* headers it got.

Scenarios:
  rules   path, host, header, query and method rules; weighted forwarding; fixed responses;
          redirects; X-Forwarded-For/Proto/Port; a WebSocket; lb_cookie
          stickiness.                                      (--web: 2 ports, --api: 1 port)
  health  only healthy targets get traffic; a failing one shows ELB's reason; fail-open when
          none is healthy; a deregistered target drains; a target that crashes and comes back,
          and one that never answers (Target.Timeout).     (--web: healthy, --api: failing)
  service an ECS service with `loadBalancers`: its tasks registered once running and healthy
          by the load balancer's checks, ECS's checks of the entries, and a rolling deployment
          under steady load with no failed request: old tasks drain (DEACTIVATING) before
          SIGTERM.                                         (--cluster; no --web/--api)
  registry an ECS service with `serviceRegistries` (Cloud Map, SRV record): ECS's checks of
          the entry, running tasks discoverable at their instance's address and host port,
          a stopping task deregistered before it stops.      (--cluster)
  network a network load balancer: a TCP listener passing connections through to a TCP
          target group's healthy targets (TCP health checks), ELB's checks of protocols,
          a draining target getting no new connection.      (--web: 2 ports)
  taskset an EXTERNAL service's task set with `loadBalancers` and `serviceRegistries`: its
          tasks registered in the target group and in Cloud Map, gone with the task
          set.                                             (--cluster)
  https   an HTTPS listener with an ACM certificate imported here (openssl): TLS to the load
          balancer, X-Forwarded-Proto https, HTTP redirected to HTTPS, HTTP/2 by ALPN (and
          off with routing.http2.enabled=false), security policies' TLS versions, a
          re-imported certificate served.                    (--web: 1 port)

Usage: lb_traffic.py --endpoint URL --credentials FILE --region R --scenario S --instance ID
                     --web PORTS --api PORTS
Exits 0 when every check held, 1 otherwise.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import http.server
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

import botocore.session
from botocore.config import Config

from check_ecs_model import read_credentials


def serve_ok(port: int = 0):
    """An HTTP server on every address of this host answering `ok`, in a thread; and its port."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


class Traffic:
    def __init__(self, elb, ec2, instance: str, settle: float = 0.0):
        self.elb = elb
        self.settle_seconds = settle
        self.instance = instance
        self.failures: list[str] = []
        subnets = ec2.describe_subnets()["Subnets"]
        self.subnet, self.vpc = subnets[0]["SubnetId"], subnets[0]["VpcId"]

    def expect(self, what: str, ok: bool, detail: object = "") -> None:
        if not ok:
            self.failures.append(f"{what}: {detail}")

    def settle(self) -> None:
        """Gives a configuration change time to reach the data plane (`--settle`: a remote
        one gets it over its connection; the server's own has it at once)."""
        time.sleep(self.settle_seconds)

    def balancer(self, name: str) -> None:
        lb = self.elb.create_load_balancer(Name=name, Subnets=[self.subnet])["LoadBalancers"][0]
        self.lb = lb["LoadBalancerArn"]
        self.address = lb["AvailabilityZones"][0]["LoadBalancerAddresses"][0]["IpAddress"]

    def group(self, name: str, ports: list[int], **health) -> str:
        tg = self.elb.create_target_group(Name=name, Protocol="HTTP", Port=8080, VpcId=self.vpc,
                                          HealthCheckPath="/healthz", HealthCheckIntervalSeconds=5,
                                          HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
                                          UnhealthyThresholdCount=2, **health)
        arn = tg["TargetGroups"][0]["TargetGroupArn"]
        self.elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": self.instance, "Port": p} for p in ports])
        return arn

    def listen(self, default_group: str) -> str:
        listener = self.elb.create_listener(LoadBalancerArn=self.lb, Protocol="HTTP", Port=80, DefaultActions=[
            {"Type": "forward", "TargetGroupArn": default_group}])
        return listener["Listeners"][0]["ListenerArn"]

    def active(self) -> None:
        deadline = time.time() + 20
        while time.time() < deadline:
            state = self.elb.describe_load_balancers(LoadBalancerArns=[self.lb])["LoadBalancers"][0]["State"]
            if state["Code"] == "active":
                return
            time.sleep(0.2)
        self.expect("the load balancer becomes active", False, state)

    def healthy(self, group: str, states: dict[int, str], seconds: float = 40) -> list[dict]:
        """Waits until each target port of `group` has the wanted state."""
        deadline = time.time() + seconds
        while True:
            health = self.elb.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
            now = {h["Target"]["Port"]: h["TargetHealth"]["State"] for h in health}
            if all(now.get(p) == s for p, s in states.items()):
                return health
            if time.time() > deadline:
                self.expect("target health", False, (states, health))
                return health
            time.sleep(0.5)

    def get(self, path: str, headers: dict | None = None, method: str = "GET") -> tuple[int, dict, bytes]:
        connection = http.client.HTTPConnection(self.address, 80, timeout=10)
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            headers = {name.lower(): value for name, value in response.getheaders()}
            return response.status, headers, response.read()
        finally:
            connection.close()

    def websocket(self, messages: list[str]) -> list[str]:
        """Opens a WebSocket to the demo's `/ws` through the listener on port 80, sends each
        message as a text frame and answers the text frames that come back."""
        sock = socket.create_connection((self.address, 80), timeout=10)
        try:
            key = base64.b64encode(os.urandom(16)).decode()
            sock.sendall((f"GET /ws HTTP/1.1\r\nHost: {self.address}\r\nUpgrade: websocket\r\n"
                          f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(4096)
                if not chunk:
                    return []
                head += chunk
            head, _, rest = head.partition(b"\r\n\r\n")
            accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
            if not head.startswith(b"HTTP/1.1 101") or b"sec-websocket-accept: " + accept not in head.lower().replace(
                    accept.lower(), accept):
                return [head.decode(errors="replace")]
            answers = []
            for message in messages:
                payload, mask = message.encode(), os.urandom(4)
                masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
                while len(rest) < 2 or len(rest) < 2 + (rest[1] & 0x7F):
                    rest += sock.recv(4096)
                length = rest[1] & 0x7F
                answers.append(rest[2:2 + length].decode())
                rest = rest[2 + length:]
            sock.sendall(bytes([0x88, 0x80]) + os.urandom(4))
            return answers
        finally:
            sock.close()

    def who(self, path: str, headers: dict | None = None) -> str | None:
        status, _, body = self.get(path, headers)
        # The demo server answers 200 at `/` and a 404 naming itself elsewhere.
        if status not in (200, 404):
            return None
        try:
            return json.loads(body)["hostname"]
        except (ValueError, KeyError):
            return None

    def service(self, ecs, cluster: str) -> None:
        self.balancer("traffic-service")
        group = self.elb.create_target_group(Name="svc", Protocol="HTTP", Port=8080, VpcId=self.vpc,
                                             HealthCheckPath="/healthz", HealthCheckIntervalSeconds=5,
                                             HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
                                             UnhealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
        self.elb.modify_target_group_attributes(TargetGroupArn=group, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "3"}])
        container = {"name": "web", "image": "flotilla/demo:latest", "memory": 64, "command": ["serve"],
                     "portMappings": [{"containerPort": 8080, "hostPort": 0}]}
        first = ecs.register_task_definition(family="lb-svc", containerDefinitions=[container])
        first_arn = first["taskDefinition"]["taskDefinitionArn"]
        entry = {"targetGroupArn": group, "containerName": "web", "containerPort": 8080}

        # ECS's checks of the entries, before a listener forwards to the group.
        def refused(**changes) -> str:
            try:
                ecs.create_service(cluster=cluster, serviceName="lb-bad", taskDefinition=first_arn, desiredCount=1,
                                   loadBalancers=[{**entry, **changes}])
            except ecs.exceptions.InvalidParameterException as error:
                return error.response["Error"]["Message"]
            return "accepted"
        message = refused()
        self.expect("a group no load balancer uses", "does not have an associated load balancer" in message, message)
        self.listen(group)
        self.active()
        message = refused(containerPort=9999)
        self.expect("a port the container does not map", message == "The container web did not have a container port 9999 defined.", message)
        message = refused(targetGroupArn=group + "0")
        self.expect("a group that does not exist", "does not exist" in message, message)

        ecs.create_service(cluster=cluster, serviceName="lb-svc", taskDefinition=first_arn, desiredCount=2,
                           loadBalancers=[entry], healthCheckGracePeriodSeconds=30,
                           deploymentConfiguration={"minimumHealthyPercent": 100, "maximumPercent": 200})
        described = ecs.describe_services(cluster=cluster, services=["lb-svc"])["services"][0]
        self.expect("the service's loadBalancers", described.get("loadBalancers") == [entry], described.get("loadBalancers"))
        self.completed(ecs, cluster, 90)

        def ports() -> set[int]:
            arns = ecs.list_tasks(cluster=cluster, serviceName="lb-svc", desiredStatus="RUNNING")["taskArns"]
            tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
            return {b["hostPort"] for t in tasks for c in t["containers"] for b in c.get("networkBindings", [])
                    if b.get("containerPort") == 8080}
        health = self.elb.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
        registered = {h["Target"]["Port"] for h in health if h["TargetHealth"]["State"] == "healthy"}
        self.expect("the running tasks are the healthy targets", registered == ports() and len(registered) == 2,
                    (health, ports()))
        self.expect("the instance is the target", all(h["Target"]["Id"] == self.instance for h in health), health)

        # A rolling deployment under steady load: no request may fail.
        stop, failures, served = threading.Event(), [], [0]
        def load() -> None:
            while not stop.is_set():
                try:
                    status, _, _ = self.get("/")
                    if status != 200:
                        failures.append(status)
                    served[0] += 1
                except OSError as error:
                    failures.append(repr(error))
        worker = threading.Thread(target=load)
        worker.start()
        before = ports()
        second = ecs.register_task_definition(family="lb-svc", containerDefinitions=[container])
        ecs.update_service(cluster=cluster, service="lb-svc", taskDefinition=second["taskDefinition"]["taskDefinitionArn"])
        seen_deactivating, deadline = False, time.time() + 120
        while time.time() < deadline:
            arns = ecs.list_tasks(cluster=cluster, serviceName="lb-svc", desiredStatus="STOPPED")["taskArns"]
            tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
            seen_deactivating |= any(t["lastStatus"] == "DEACTIVATING" for t in tasks)
            service = ecs.describe_services(cluster=cluster, services=["lb-svc"])["services"][0]
            primary = service["deployments"][0]
            if primary.get("rolloutState") == "COMPLETED" and len(service["deployments"]) == 1 \
                    and all(t["lastStatus"] == "STOPPED" for t in tasks) and len(tasks) >= 2:
                break
            time.sleep(0.3)
        stop.set()
        worker.join()
        self.expect("the deployment completes", primary.get("rolloutState") == "COMPLETED", service["deployments"])
        self.expect("old tasks drained from the load balancer first (DEACTIVATING)", seen_deactivating, tasks)
        self.expect("requests were served through the deployment", served[0] > 50, served[0])
        print(f"rolling deployment: {served[0]} requests, {len(failures)} failed")
        self.expect("no request failed during the rolling deployment", failures == [], failures[:10])
        after = ports()
        self.expect("new tasks replaced the old ones", len(after) == 2 and not (after & before), (before, after))
        health = self.elb.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
        serving = {h["Target"]["Port"] for h in health if h["TargetHealth"]["State"] == "healthy"}
        self.expect("the targets follow the tasks", serving == after, health)
        # StopTask on a task behind the load balancer drains it first too.
        stop, failures, served = threading.Event(), [], [0]
        worker = threading.Thread(target=load)
        worker.start()
        victim = ecs.list_tasks(cluster=cluster, serviceName="lb-svc", desiredStatus="RUNNING")["taskArns"][0]
        ecs.stop_task(cluster=cluster, task=victim, reason="by hand")
        statuses, deadline = set(), time.time() + 30
        while time.time() < deadline:
            task = ecs.describe_tasks(cluster=cluster, tasks=[victim])["tasks"][0]
            statuses.add(task["lastStatus"])
            if task["lastStatus"] == "STOPPED":
                break
            time.sleep(0.2)
        stop.set()
        worker.join()
        self.expect("a task stopped by hand drains first (DEACTIVATING)", "DEACTIVATING" in statuses, statuses)
        self.expect("no request failed while a task was stopped by hand", failures == [] and served[0] > 10,
                    (failures[:10], served[0]))
        # UpdateService moves the service to another target group: a new deployment registers
        # there; the old group keeps the old tasks until they are replaced, then empties.
        second = self.elb.create_target_group(Name="svc-next", Protocol="HTTP", Port=8080, VpcId=self.vpc,
                                              HealthCheckPath="/healthz", HealthCheckIntervalSeconds=5,
                                              HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
                                              UnhealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
        self.elb.modify_target_group_attributes(TargetGroupArn=second, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "3"}])
        self.elb.create_listener(LoadBalancerArn=self.lb, Protocol="HTTP", Port=8081, DefaultActions=[
            {"Type": "forward", "TargetGroupArn": second}])
        try:
            ecs.update_service(cluster=cluster, service="lb-svc", loadBalancers=[{**entry, "containerPort": 9999}])
            message = "accepted"
        except ecs.exceptions.InvalidParameterException as error:
            message = error.response["Error"]["Message"]
        self.expect("UpdateService checks its loadBalancers as CreateService does", "container port 9999" in message,
                    message)
        primary = ecs.describe_services(cluster=cluster, services=["lb-svc"])["services"][0]["deployments"][0]["id"]
        moved = {**entry, "targetGroupArn": second}
        updated = ecs.update_service(cluster=cluster, service="lb-svc", loadBalancers=[moved])["service"]
        self.expect("the new loadBalancers start a deployment", updated.get("loadBalancers") == [moved]
                    and updated["deployments"][0]["id"] != primary, (updated.get("loadBalancers"), updated["deployments"]))
        self.completed(ecs, cluster, 120)
        deadline, old, new = time.time() + 60, None, None
        while time.time() < deadline:
            old = self.elb.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
            new = self.elb.describe_target_health(TargetGroupArn=second)["TargetHealthDescriptions"]
            if not old and len([h for h in new if h["TargetHealth"]["State"] == "healthy"]) == 2:
                break
            time.sleep(0.5)
        self.expect("the new deployment's tasks in the new group, the old group emptied",
                    not old and len(new or []) == 2, (old, new))
        connection = http.client.HTTPConnection(self.address, 8081, timeout=10)
        connection.request("GET", "/healthz")
        status = connection.getresponse().status
        connection.close()
        self.expect("traffic through the new group's listener", status == 200, status)
        group = second
        ecs.update_service(cluster=cluster, service="lb-svc", desiredCount=0)
        ecs.delete_service(cluster=cluster, service="lb-svc")
        deadline = time.time() + 30
        while self.elb.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]:
            if time.time() > deadline:
                self.expect("a deleted service's targets leave", False, "still registered")
                break
            time.sleep(0.5)
        self.elb.delete_load_balancer(LoadBalancerArn=self.lb)

    def completed(self, ecs, cluster: str, seconds: float) -> None:
        deadline = time.time() + seconds
        while time.time() < deadline:
            service = ecs.describe_services(cluster=cluster, services=["lb-svc"])["services"][0]
            if service["deployments"][0].get("rolloutState") == "COMPLETED" and service.get("runningCount") == 2:
                return
            time.sleep(0.5)
        self.expect("the service's deployment completes once its targets are healthy", False,
                    (service["deployments"], service["events"][:5]))

    def taskset(self, ecs, sd, cluster: str) -> None:
        self.balancer("traffic-taskset")
        group = self.elb.create_target_group(Name="ts", Protocol="HTTP", Port=8080, VpcId=self.vpc,
                                             HealthCheckPath="/healthz", HealthCheckIntervalSeconds=5,
                                             HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
                                             UnhealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
        self.elb.modify_target_group_attributes(TargetGroupArn=group, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "2"}])
        self.listen(group)
        op = sd.create_private_dns_namespace(Name="sets.local", Vpc=self.vpc)["OperationId"]
        namespace = sd.get_operation(OperationId=op)["Operation"]["Targets"]["NAMESPACE"]
        registry = sd.create_service(Name="blue", NamespaceId=namespace,
                                     DnsConfig={"DnsRecords": [{"Type": "SRV", "TTL": 10}]})["Service"]["Arn"]
        container = {"name": "web", "image": "flotilla/demo:latest", "memory": 64, "command": ["serve"],
                     "portMappings": [{"containerPort": 8080, "hostPort": 0}]}
        arn = ecs.register_task_definition(family="ts-web", containerDefinitions=[container])[
            "taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(cluster=cluster, serviceName="ts-svc", desiredCount=1,
                           deploymentController={"type": "EXTERNAL"})
        entry = {"targetGroupArn": group, "containerName": "web", "containerPort": 8080}
        listing = {"registryArn": registry, "containerName": "web", "containerPort": 8080}
        try:
            ecs.create_task_set(cluster=cluster, service="ts-svc", taskDefinition=arn,
                                loadBalancers=[{**entry, "containerPort": 9999}])
            message = "accepted"
        except ecs.exceptions.InvalidParameterException as error:
            message = error.response["Error"]["Message"]
        self.expect("CreateTaskSet checks its loadBalancers", "container port 9999" in message, message)
        created = ecs.create_task_set(cluster=cluster, service="ts-svc", taskDefinition=arn, loadBalancers=[entry],
                                      serviceRegistries=[listing], scale={"value": 100, "unit": "PERCENT"})["taskSet"]
        self.expect("the task set's targets", (created.get("loadBalancers"), created.get("serviceRegistries"))
                    == ([entry], [listing]), created)

        def state() -> tuple[list, set, set]:
            health = self.elb.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
            found = sd.discover_instances(NamespaceName="sets.local", ServiceName="blue", HealthStatus="ALL")
            arns = ecs.list_tasks(cluster=cluster, serviceName="ts-svc", desiredStatus="RUNNING")["taskArns"]
            return health, {i["InstanceId"] for i in found["Instances"]}, {a.rsplit("/", 1)[1] for a in arns}
        deadline = time.time() + 60
        while time.time() < deadline:
            health, instances, tasks = state()
            if len(tasks) == 1 and instances == tasks and [h["TargetHealth"]["State"] for h in health] == ["healthy"]:
                break
            time.sleep(0.5)
        self.expect("the task set's task is a healthy target and a Cloud Map instance",
                    len(tasks) == 1 and instances == tasks and [h["TargetHealth"]["State"] for h in health] == ["healthy"],
                    (health, instances, tasks))
        status, _, _ = self.get("/healthz")
        self.expect("traffic reaches the task set's task", status == 200, status)
        ecs.delete_task_set(cluster=cluster, service="ts-svc", taskSet=created["id"], force=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            health, instances, _ = state()
            if not health and not instances:
                break
            time.sleep(0.5)
        self.expect("a deleted task set's task leaves the group and Cloud Map", not health and not instances,
                    (health, instances))
        ecs.update_service(cluster=cluster, service="ts-svc", desiredCount=0)
        ecs.delete_service(cluster=cluster, service="ts-svc")
        self.elb.delete_load_balancer(LoadBalancerArn=self.lb)

    def registry(self, ecs, sd, cluster: str) -> None:
        op = sd.create_private_dns_namespace(Name="prod.local", Vpc=self.vpc)["OperationId"]
        namespace = sd.get_operation(OperationId=op)["Operation"]["Targets"]["NAMESPACE"]
        srv = sd.create_service(Name="web", NamespaceId=namespace, HealthCheckCustomConfig={"FailureThreshold": 1},
                                DnsConfig={"DnsRecords": [{"Type": "SRV", "TTL": 10}]})["Service"]
        a_only = sd.create_service(Name="a-only", NamespaceId=namespace,
                                   DnsConfig={"DnsRecords": [{"Type": "A", "TTL": 10}]})["Service"]
        container = {"name": "web", "image": "flotilla/demo:latest", "memory": 64, "command": ["serve"],
                     "portMappings": [{"containerPort": 8080, "hostPort": 0}]}
        definition = ecs.register_task_definition(family="sd-web", containerDefinitions=[container])
        arn = definition["taskDefinition"]["taskDefinitionArn"]
        entry = {"registryArn": srv["Arn"], "containerName": "web", "containerPort": 8080}

        def refused(registry: dict) -> str:
            try:
                ecs.create_service(cluster=cluster, serviceName="sd-bad", taskDefinition=arn, desiredCount=1,
                                   serviceRegistries=[registry])
            except ecs.exceptions.InvalidParameterException as error:
                return error.response["Error"]["Message"]
            return "accepted"
        message = refused({"registryArn": a_only["Arn"]})
        self.expect("an A record needs awsvpc", "awsvpc" in message, message)
        message = refused({"registryArn": srv["Arn"]})
        self.expect("an SRV record needs the container port", "containerPort" in message, message)
        message = refused({**entry, "registryArn": srv["Arn"][:-4] + "0000"})
        self.expect("a registry that does not exist", "does not exist" in message, message)

        ecs.create_service(cluster=cluster, serviceName="sd-web", taskDefinition=arn, desiredCount=2,
                           serviceRegistries=[entry])
        described = ecs.describe_services(cluster=cluster, services=["sd-web"])["services"][0]
        self.expect("the service's serviceRegistries", described.get("serviceRegistries") == [entry],
                    described.get("serviceRegistries"))

        def running() -> dict[str, int]:
            arns = ecs.list_tasks(cluster=cluster, serviceName="sd-web", desiredStatus="RUNNING")["taskArns"]
            tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
            return {t["taskArn"].rsplit("/", 1)[1]: b["hostPort"] for t in tasks if t["lastStatus"] == "RUNNING"
                    for c in t["containers"] for b in c.get("networkBindings", []) if b.get("containerPort") == 8080}

        def discovered() -> dict[str, dict]:
            found = sd.discover_instances(NamespaceName="prod.local", ServiceName="web", HealthStatus="ALL")
            return {i["InstanceId"]: i["Attributes"] for i in found["Instances"]}
        deadline = time.time() + 60
        while time.time() < deadline:
            tasks, instances = running(), discovered()
            if len(tasks) == 2 and set(instances) == set(tasks):
                break
            time.sleep(0.3)
        self.expect("the running tasks are the discovered instances", len(tasks) == 2 and set(instances) == set(tasks),
                    (tasks, instances))
        for task, port in tasks.items():
            attributes = instances.get(task, {})
            self.expect("an instance's port is its task's host port", attributes.get("AWS_INSTANCE_PORT") == str(port), attributes)
            self.expect("ECS's attributes", attributes.get("ECS_SERVICE_NAME") == "sd-web"
                        and attributes.get("ECS_TASK_DEFINITION_FAMILY") == "sd-web", attributes)
            address = attributes.get("AWS_INSTANCE_IPV4", "")
            connection = http.client.HTTPConnection(address, int(attributes.get("AWS_INSTANCE_PORT", "0")), timeout=5)
            connection.request("GET", "/healthz")
            status = connection.getresponse().status
            connection.close()
            self.expect("the discovered address and port reach the task", status == 200, (address, status))
        listed = ecs.list_services_by_namespace(namespace=namespace)["serviceArns"]
        self.expect("a namespace ECS knows (no Service Connect services)", listed == [], listed)

        # A stopping task leaves Cloud Map before it is stopped.
        ecs.update_service(cluster=cluster, service="sd-web", desiredCount=1)
        leaving, deadline = None, time.time() + 30
        while time.time() < deadline:
            arns = ecs.list_tasks(cluster=cluster, serviceName="sd-web", desiredStatus="STOPPED")["taskArns"]
            if arns:
                task = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"][0]
                leaving = task["taskArn"].rsplit("/", 1)[1]
                still = leaving in discovered()
                if task["lastStatus"] == "STOPPED":
                    break
                if task["lastStatus"] in ("STOPPING", "DEPROVISIONING"):
                    self.expect("deregistered before SIGTERM", not still, task["lastStatus"])
            time.sleep(0.1)
        self.expect("the stopped task is no instance", leaving is not None and leaving not in discovered(), leaving)
        # UpdateService without the registry: a new deployment whose tasks are not registered;
        # the old task leaves Cloud Map as it is replaced.
        updated = ecs.update_service(cluster=cluster, service="sd-web", serviceRegistries=[])["service"]
        primary = updated["deployments"][0]["id"]
        self.expect("serviceRegistries removed by UpdateService", updated.get("serviceRegistries", []) == [],
                    updated.get("serviceRegistries"))
        deadline = time.time() + 60
        while time.time() < deadline:
            arns = ecs.list_tasks(cluster=cluster, serviceName="sd-web", desiredStatus="RUNNING")["taskArns"]
            tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
            if tasks and all(t.get("startedBy") == primary and t["lastStatus"] == "RUNNING" for t in tasks) \
                    and not discovered():
                break
            time.sleep(0.3)
        self.expect("the new deployment's task is not registered, the old one left",
                    discovered() == {} and bool(tasks) and all(t.get("startedBy") == primary for t in tasks),
                    (discovered(), [(t.get("startedBy"), t["lastStatus"]) for t in tasks]))
        ecs.update_service(cluster=cluster, service="sd-web", desiredCount=0)
        ecs.delete_service(cluster=cluster, service="sd-web")
        deadline = time.time() + 30
        while discovered() and time.time() < deadline:
            time.sleep(0.3)
        self.expect("a deleted service's tasks leave Cloud Map", discovered() == {}, discovered())

    def https(self, web: list[int], acm) -> None:
        directory = tempfile.mkdtemp()
        def certificate(name: str) -> tuple[bytes, bytes, str]:
            cert, key = os.path.join(directory, f"{name}.crt"), os.path.join(directory, f"{name}.key")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                            "-subj", f"/CN={name}", "-addext", "subjectAltName=DNS:web.example.test",
                            "-keyout", key, "-out", cert], check=True, capture_output=True)
            with open(cert, "rb") as c, open(key, "rb") as k:
                return c.read(), k.read(), cert
        first, first_key, first_file = certificate("first")
        arn = acm.import_certificate(Certificate=first, PrivateKey=first_key)["CertificateArn"]
        self.balancer("traffic-https")
        group = self.group("tls", web)
        self.elb.create_listener(LoadBalancerArn=self.lb, Protocol="HTTP", Port=8080, DefaultActions=[
            {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "8443", "StatusCode": "HTTP_301"}}])
        secure = self.elb.create_listener(LoadBalancerArn=self.lb, Protocol="HTTPS", Port=8443,
                                          Certificates=[{"CertificateArn": arn}],
                                          DefaultActions=[{"Type": "forward", "TargetGroupArn": group}])
        listener = secure["Listeners"][0]["ListenerArn"]
        self.active()
        self.healthy(group, {p: "healthy" for p in web})

        connection = http.client.HTTPConnection(self.address, 8080, timeout=10)
        connection.request("GET", "/old?q=1", headers={"Host": "web.example.test"})
        response = connection.getresponse()
        location = response.getheader("Location")
        connection.close()
        self.expect("HTTP redirected to HTTPS", (response.status, location)
                    == (301, "https://web.example.test:8443/old?q=1"), (response.status, location))

        def fetch(cafile: str, maximum=None) -> tuple[int, dict, bytes]:
            context = ssl.create_default_context(cafile=cafile)
            if maximum:
                context.maximum_version = maximum
            raw = socket.create_connection((self.address, 8443), timeout=10)
            with context.wrap_socket(raw, server_hostname="web.example.test") as tls:
                tls.sendall(b"GET /secure HTTP/1.1\r\nHost: web.example.test\r\nConnection: close\r\n\r\n")
                response = http.client.HTTPResponse(tls)
                response.begin()
                return response.status, {"der": tls.getpeercert(binary_form=True)}, response.read()
        status, peer, body = fetch(first_file)
        seen = json.loads(body)["request"] if status in (200, 404) else {}
        self.expect("HTTPS through the load balancer", status in (200, 404) and seen.get("path") == "/secure", (status, body))
        self.expect("X-Forwarded-Proto https, the listener's port",
                    (seen.get("x_forwarded_proto"), seen.get("x_forwarded_port")) == ("https", "8443"), seen)
        self.expect("the imported certificate is presented", peer["der"] == ssl.PEM_cert_to_DER_cert(first.decode()), "")

        def curl(cafile: str) -> tuple[str, dict]:
            """GET / with curl offering HTTP/2: the protocol it got and the target's answer."""
            done = subprocess.run(["curl", "-s", "--http2", "--cacert", cafile, "-w", "\n%{http_version}",
                                   "--resolve", f"web.example.test:8443:{self.address}",
                                   "https://web.example.test:8443/"], capture_output=True, text=True, timeout=20)
            body, _, version = done.stdout.rpartition("\n")
            try:
                return version, json.loads(body)
            except ValueError:
                return version, {"curl": done.returncode, "output": done.stdout, "error": done.stderr}
        version, answer = curl(first_file)
        self.expect("HTTP/2 from the client (ALPN h2), HTTP/1.1 to the target",
                    version == "2" and answer.get("request", {}).get("host") == "web.example.test:8443", (version, answer))
        self.elb.modify_load_balancer_attributes(LoadBalancerArn=self.lb, Attributes=[
            {"Key": "routing.http2.enabled", "Value": "false"}])
        deadline, version = time.time() + 10, ""
        while time.time() < deadline and version != "1.1":
            version, answer = curl(first_file)
            time.sleep(0.2)
        self.expect("routing.http2.enabled=false: HTTP/1.1 only", version == "1.1" and "hostname" in answer,
                    (version, answer))
        status, _, _ = fetch(first_file, maximum=ssl.TLSVersion.TLSv1_2)
        self.expect("TLS 1.2 under ELB's default policy", status in (200, 404), status)
        self.elb.modify_listener(ListenerArn=listener, SslPolicy="ELBSecurityPolicy-TLS13-1-3-2021-06")
        time.sleep(0.5)
        try:
            fetch(first_file, maximum=ssl.TLSVersion.TLSv1_2)
            self.expect("a TLS 1.3-only policy refuses TLS 1.2", False, "a TLS 1.2 handshake succeeded")
        except (ssl.SSLError, OSError):
            pass
        status, _, _ = fetch(first_file)
        self.expect("TLS 1.3 under the TLS 1.3 policy", status in (200, 404), status)
        try:
            self.elb.modify_listener(ListenerArn=listener, SslPolicy="ELBSecurityPolicy-2016-08")
            self.expect("a policy with TLS 1.0 is refused", False, "accepted")
        except self.elb.exceptions.ClientError as error:
            message = error.response["Error"]["Message"]
            self.expect("a policy with TLS 1.0 is refused", "not supported yet" in message, message)
        # A re-imported certificate is what new connections get.
        second, second_key, second_file = certificate("second")
        acm.import_certificate(CertificateArn=arn, Certificate=second, PrivateKey=second_key)
        deadline, served = time.time() + 10, None
        while time.time() < deadline:
            try:
                _, peer, _ = fetch(second_file)
                served = peer["der"]
                break
            except (ssl.SSLError, OSError):
                time.sleep(0.3)
        self.expect("the re-imported certificate is served", served == ssl.PEM_cert_to_DER_cert(second.decode()), "")
        self.elb.delete_load_balancer(LoadBalancerArn=self.lb)
        acm.delete_certificate(CertificateArn=arn)

    def failed(self, call, **kwargs) -> tuple[str, str]:
        """The error code and message of a call expected to fail."""
        try:
            call(**kwargs)
        except self.elb.exceptions.ClientError as error:
            return error.response["Error"]["Code"], error.response["Error"]["Message"]
        return "accepted", ""

    def network(self, web: list[int]) -> None:
        lb = self.elb.create_load_balancer(Name="traffic-nlb", Type="network", Subnets=[self.subnet])["LoadBalancers"][0]
        self.lb = lb["LoadBalancerArn"]
        self.address = lb["AvailabilityZones"][0]["LoadBalancerAddresses"][0]["IpAddress"]
        self.expect("a network load balancer", lb["Type"] == "network" and ":loadbalancer/net/" in self.lb, lb)
        http_group = self.group("nlb-http", web)
        code, message = self.failed(self.elb.create_listener, LoadBalancerArn=self.lb, Protocol="HTTP", Port=80,
                                    DefaultActions=[{"Type": "forward", "TargetGroupArn": http_group}])
        self.expect("HTTP listeners are not a network load balancer's", code == "UnsupportedProtocol", (code, message))
        code, message = self.failed(self.elb.create_listener, LoadBalancerArn=self.lb, Protocol="TCP", Port=80,
                                    DefaultActions=[{"Type": "forward", "TargetGroupArn": http_group}])
        self.expect("a TCP listener forwards to TCP groups", code == "IncompatibleProtocols", (code, message))
        code, message = self.failed(self.elb.create_target_group, Name="nlb-path", Protocol="TCP", Port=8080,
                                    VpcId=self.vpc, HealthCheckPath="/healthz")
        self.expect("a TCP check has no path", code == "ValidationError", (code, message))
        dead_socket = socket.socket()
        dead_socket.bind(("127.0.0.1", 0))
        dead = dead_socket.getsockname()[1]
        dead_socket.close()  # nothing listens there: its TCP checks fail
        group = self.elb.create_target_group(Name="nlb-tcp", Protocol="TCP", Port=8080, VpcId=self.vpc,
                                             HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2,
                                             HealthyThresholdCount=2, UnhealthyThresholdCount=2)["TargetGroups"][0]
        self.expect("a TCP group, checked over TCP", (group["Protocol"], group["HealthCheckProtocol"]) == ("TCP", "TCP")
                    and "HealthCheckPath" not in group and "Matcher" not in group, group)
        tg = group["TargetGroupArn"]
        self.elb.modify_target_group_attributes(TargetGroupArn=tg, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "2"}])
        attributes = {a["Key"]: a["Value"] for a in self.elb.describe_target_group_attributes(TargetGroupArn=tg)["Attributes"]}
        self.expect("a TCP group's attributes", attributes.get("preserve_client_ip.enabled") == "false"
                    and attributes.get("proxy_protocol_v2.enabled") == "false", attributes)
        code, message = self.failed(self.elb.modify_target_group_attributes, TargetGroupArn=tg, Attributes=[
            {"Key": "proxy_protocol_v2.enabled", "Value": "true"}])
        self.expect("proxy protocol not yet", "not supported yet" in message, (code, message))
        self.elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": self.instance, "Port": p} for p in [*web, dead]])
        listener = self.elb.create_listener(LoadBalancerArn=self.lb, Protocol="TCP", Port=9000, DefaultActions=[
            {"Type": "forward", "TargetGroupArn": tg}])["Listeners"][0]
        self.expect("a TCP listener", listener["Protocol"] == "TCP", listener)
        code, message = self.failed(self.elb.create_rule, ListenerArn=listener["ListenerArn"], Priority=1,
                                    Conditions=[{"Field": "path-pattern", "Values": ["/x"]}],
                                    Actions=[{"Type": "forward", "TargetGroupArn": tg}])
        self.expect("no rules on a TCP listener", code == "ValidationError", (code, message))
        self.active()
        health = self.healthy(tg, {**{p: "healthy" for p in web}, dead: "unhealthy"})
        reasons = {h["Target"]["Port"]: h["TargetHealth"].get("Reason") for h in health}
        self.expect("a port nobody listens on fails its TCP checks", reasons.get(dead) == "Target.FailedHealthChecks", health)

        def who() -> tuple[str | None, dict]:
            connection = http.client.HTTPConnection(self.address, 9000, timeout=10)
            try:
                connection.request("GET", "/")
                answer = json.loads(connection.getresponse().read())
                return answer.get("hostname"), answer.get("request", {})
            except (OSError, ValueError) as error:
                return None, {"error": str(error)}
            finally:
                connection.close()
        answers = [who() for _ in range(8)]
        hosts = {host for host, _ in answers}
        self.expect("connections spread over the healthy targets only", len(hosts) == 2 and None not in hosts, answers)
        seen = answers[0][1]
        self.expect("bytes pass through untouched (no X-Forwarded-For)", seen.get("x_forwarded_for") is None
                    and seen.get("host") == f"{self.address}:9000", seen)
        # A deregistered target drains: no new connection goes to it.
        self.elb.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": self.instance, "Port": web[0]}])
        remaining = {who()[0] for _ in range(6)}
        self.expect("a draining target gets no new connection", len(remaining) == 1 and None not in remaining
                    and remaining < hosts, (remaining, hosts))
        self.elb.delete_load_balancer(LoadBalancerArn=self.lb)

    def rules(self, web: list[int], api: list[int]) -> None:
        self.balancer("traffic-rules")
        web_group = self.group("web", web)
        api_group = self.group("api", api)
        listener = self.listen(web_group)
        self.elb.create_rule(ListenerArn=listener, Priority=10, Conditions=[
            {"Field": "path-pattern", "Values": ["/api/*"]}], Actions=[{"Type": "forward", "TargetGroupArn": api_group}])
        self.elb.create_rule(ListenerArn=listener, Priority=20, Conditions=[
            {"Field": "host-header", "Values": ["admin.example.com"]}], Actions=[
            {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "403", "ContentType": "text/plain",
                                                               "MessageBody": "admins only"}}])
        self.elb.create_rule(ListenerArn=listener, Priority=30, Conditions=[
            {"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "go", "Value": "old*"}]}}], Actions=[
            {"Type": "redirect", "RedirectConfig": {"Path": "/new", "Query": "from=#{path}", "StatusCode": "HTTP_301"}}])
        self.elb.create_rule(ListenerArn=listener, Priority=40, Conditions=[
            {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Canary", "Values": ["yes"]}}], Actions=[
            {"Type": "forward", "ForwardConfig": {"TargetGroups": [
                {"TargetGroupArn": web_group, "Weight": 1}, {"TargetGroupArn": api_group, "Weight": 1}]}}])
        self.elb.create_rule(ListenerArn=listener, Priority=50, Conditions=[
            {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["DELETE"]}},
            {"Field": "source-ip", "SourceIpConfig": {"Values": ["127.0.0.0/8"]}}], Actions=[
            {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "405"}}])
        self.active()
        self.healthy(web_group, {p: "healthy" for p in web})
        self.healthy(api_group, {p: "healthy" for p in api})

        web_hosts = {self.who("/") for _ in range(6)}
        self.expect("the default rule spreads over both web targets", len(web_hosts) == 2 and None not in web_hosts, web_hosts)
        api_hosts = {self.who("/api/users") for _ in range(4)}
        self.expect("/api/* goes to the api group only", len(api_hosts) == 1 and not (api_hosts & web_hosts), (api_hosts, web_hosts))
        status, _, body = self.get("/", {"Host": "admin.example.com"})
        self.expect("a host rule's fixed response", (status, body) == (403, b"admins only"), (status, body))
        status, headers, _ = self.get("/old/page?go=older")
        self.expect("a redirect", status == 301 and headers.get("location") == f"http://{self.address}/new?from=old/page",
                    (status, headers))
        canary = {self.who("/", {"X-Canary": "yes"}) for _ in range(8)}
        self.expect("weighted forwarding reaches both groups", bool(canary & web_hosts) and bool(canary & api_hosts), canary)
        status, _, _ = self.get("/", method="DELETE")
        self.expect("method and source rules", status == 405, status)
        status, _, body = self.get("/", {"X-Forwarded-For": "203.0.113.7"})
        seen = json.loads(body)["request"]
        self.expect("X-Forwarded-For appended", seen.get("x_forwarded_for") == "203.0.113.7, 127.0.0.1", seen)
        self.expect("X-Forwarded-Proto and Port", (seen.get("x_forwarded_proto"), seen.get("x_forwarded_port")) == ("http", "80"), seen)
        self.elb.modify_load_balancer_attributes(LoadBalancerArn=self.lb, Attributes=[
            {"Key": "routing.http.xff_header_processing.mode", "Value": "remove"}])
        self.settle()
        _, _, body = self.get("/", {"X-Forwarded-For": "203.0.113.7"})
        self.expect("X-Forwarded-For removed", json.loads(body)["request"].get("x_forwarded_for") is None, body)
        # A WebSocket through the listener: the upgrade reaches a target, frames flow both ways.
        answers = self.websocket(["hello", "again"])
        host = answers[0].split(": ", 1)[0] if answers else None
        self.expect("a WebSocket through the load balancer", host in web_hosts and answers == [
            f"{host}: hello", f"{host}: again"], answers)
        # Stickiness: ELB's cookie keeps a client on the target that answered it first.
        self.elb.modify_target_group_attributes(TargetGroupArn=web_group, Attributes=[
            {"Key": "stickiness.enabled", "Value": "true"},
            {"Key": "stickiness.lb_cookie.duration_seconds", "Value": "120"}])
        self.settle()
        connection = http.client.HTTPConnection(self.address, 80, timeout=10)
        connection.request("GET", "/")
        response = connection.getresponse()
        first = json.loads(response.read())["hostname"]
        cookies = [v for k, v in response.getheaders() if k.lower() == "set-cookie"]
        connection.close()
        names = sorted(c.split("=", 1)[0] for c in cookies)
        self.expect("ELB's stickiness cookies", names == ["AWSALB", "AWSALBCORS"] and all("Expires=" in c for c in cookies),
                    cookies)
        jar = "; ".join(c.split(";", 1)[0] for c in cookies)
        stuck = {self.who("/", {"Cookie": jar}) for _ in range(6)}
        self.expect("a client with ELB's cookie stays on its target", stuck == {first}, (first, stuck))
        spread = {self.who("/") for _ in range(6)}
        self.expect("clients without it still spread", spread == web_hosts, spread)
        self.elb.modify_target_group_attributes(TargetGroupArn=web_group, Attributes=[
            {"Key": "stickiness.enabled", "Value": "false"}])
        self.settle()
        loose = {self.who("/", {"Cookie": jar}) for _ in range(6)}
        self.expect("stickiness off: the cookie binds no more", loose == web_hosts, loose)
        # A rule changed takes effect on the next request.
        self.elb.modify_listener(ListenerArn=listener, DefaultActions=[
            {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503", "MessageBody": "maintenance"}}])
        self.settle()
        status, headers, body = self.get("/")
        self.expect("the default action changed", (status, body) == (503, b"maintenance"), (status, body))
        self.expect("ELB's Server header", headers.get("server") == "awselb/2.0", headers)
        self.elb.modify_listener_attributes(ListenerArn=listener, Attributes=[
            {"Key": "routing.http.response.server.enabled", "Value": "false"}])
        self.settle()
        _, headers, _ = self.get("/")
        self.expect("no Server header when the listener says so", "server" not in headers, headers)
        self.elb.delete_load_balancer(LoadBalancerArn=self.lb)
        time.sleep(3)
        try:
            self.get("/")
            self.expect("a deleted load balancer stops listening", False, "still answers")
        except OSError:
            pass

    def health(self, healthy: list[int], failing: list[int]) -> None:
        self.balancer("traffic-health")
        group = self.group("mixed", healthy + failing)
        self.elb.modify_target_group_attributes(TargetGroupArn=group, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "4"}])
        listener = self.listen(group)
        self.active()
        states = {p: "healthy" for p in healthy} | {p: "unhealthy" for p in failing}
        health = self.healthy(group, states)
        reasons = {h["Target"]["Port"]: h["TargetHealth"].get("Reason") for h in health}
        self.expect("a failing check's reason", all(reasons.get(p) == "Target.ResponseCodeMismatch" for p in failing), health)
        answered = {self.who("/") for _ in range(6)}
        self.expect("only the healthy target gets traffic", len(answered) == 1 and None not in answered, answered)
        # A target that refuses connections: unhealthy, and never answers.
        self.elb.register_targets(TargetGroupArn=group, Targets=[{"Id": self.instance, "Port": 9}])
        self.healthy(group, {9: "unhealthy"})
        # Every target unhealthy: ELB fails open, to all of them.
        self.elb.modify_target_group(TargetGroupArn=group, HealthCheckPath="/nothing-here", Matcher={"HttpCode": "204"})
        self.healthy(group, {p: "unhealthy" for p in healthy + failing})
        opened = {self.who("/") for _ in range(12)}
        self.expect("fail-open reaches every live target", len(opened - {None}) == 2, opened)
        # Draining: no new requests, then gone after the delay.
        self.elb.deregister_targets(TargetGroupArn=group, Targets=[{"Id": self.instance, "Port": p} for p in failing + [9]])
        self.healthy(group, {p: "draining" for p in failing}, seconds=3)
        after = {self.who("/") for _ in range(6)}
        self.expect("a draining target gets no new requests", len(after) == 1 and None not in after, after)
        time.sleep(5)
        left = [h["Target"]["Port"] for h in self.elb.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]]
        self.expect("drained targets are gone after the delay", left == healthy, left)

        # A target that crashes and comes back, and one that never answers: servers of this test's
        # own on the instance (the agent's host), behind a rule of the same listener.
        crash = self.elb.create_target_group(Name="crash", Protocol="HTTP", Port=8080, VpcId=self.vpc,
                                             HealthCheckPath="/healthz", HealthCheckIntervalSeconds=5,
                                             HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
                                             UnhealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
        self.elb.create_rule(ListenerArn=listener, Priority=1, Conditions=[{"Field": "path-pattern", "Values": ["/crash*"]}],
                             Actions=[{"Type": "forward", "TargetGroupArn": crash}])
        server, port = serve_ok()
        silent = socket.socket()
        silent.bind(("0.0.0.0", 0))
        silent.listen(16)  # connections complete in the kernel; nothing ever answers
        silent_port = silent.getsockname()[1]
        self.elb.register_targets(TargetGroupArn=crash, Targets=[{"Id": self.instance, "Port": port},
                                                                  {"Id": self.instance, "Port": silent_port}])
        health = self.healthy(crash, {port: "healthy", silent_port: "unhealthy"})
        reasons = {h["Target"]["Port"]: h["TargetHealth"].get("Reason") for h in health}
        self.expect("a target that never answers times out", reasons.get(silent_port) == "Target.Timeout", health)
        server.shutdown()
        server.server_close()
        health = self.healthy(crash, {port: "unhealthy"})
        reasons = {h["Target"]["Port"]: h["TargetHealth"].get("Reason") for h in health}
        self.expect("a crashed target fails its checks", reasons.get(port) == "Target.FailedHealthChecks", health)
        server, _ = serve_ok(port)
        self.healthy(crash, {port: "healthy"})
        status, _, body = self.get("/crash/again")
        self.expect("a recovered target takes traffic again", (status, body) == (200, b"ok"), (status, body))
        server.shutdown()
        server.server_close()
        silent.close()
        self.elb.delete_load_balancer(LoadBalancerArn=self.lb)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--credentials", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--scenario", choices=["rules", "health", "service", "https", "registry", "network",
                                               "taskset"],
                        required=True)
    parser.add_argument("--instance", required=True)
    parser.add_argument("--web", default="")
    parser.add_argument("--api", default="")
    parser.add_argument("--cluster", default="default")
    parser.add_argument("--settle", type=float, default=0.0,
                        help="seconds a configuration change may take to reach the data plane")
    args = parser.parse_args()
    key = read_credentials(args.credentials)
    session = botocore.session.get_session()
    elb, ec2, ecs, acm, sd = (session.create_client(
        service, endpoint_url=args.endpoint, region_name=args.region,
        aws_access_key_id=key[0], aws_secret_access_key=key[1],
        # DiscoverInstances goes to the data- host unless told not to: data-127.0.0.1 is no name.
        config=Config(retries={"total_max_attempts": 1}, inject_host_prefix=False),
    ) for service in ("elbv2", "ec2", "ecs", "acm", "servicediscovery"))
    traffic = Traffic(elb, ec2, args.instance, args.settle)
    if args.scenario == "service":
        traffic.service(ecs, args.cluster)
    elif args.scenario == "registry":
        traffic.registry(ecs, sd, args.cluster)
    elif args.scenario == "taskset":
        traffic.taskset(ecs, sd, args.cluster)
    elif args.scenario == "network":
        traffic.network([int(p) for p in args.web.split(",")])
    elif args.scenario == "https":
        traffic.https([int(p) for p in args.web.split(",")], acm)
    else:
        web = [int(p) for p in args.web.split(",")]
        api = [int(p) for p in args.api.split(",")]
        getattr(traffic, args.scenario)(web, api)
    for failure in traffic.failures:
        print(f"FAIL {failure}")
    print(f"load balancer traffic ({args.scenario}): {len(traffic.failures)} failure(s)")
    return 1 if traffic.failures else 0


if __name__ == "__main__":
    sys.exit(main())
