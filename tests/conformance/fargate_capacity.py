"""Fargate capacity beyond RunTask, driven with botocore as a CLI run would: platformVersion and
runtimePlatform as ECS checks them, a service shared by FARGATE and FARGATE_SPOT, a task set on
FARGATE, and an operator draining one machine of the capacity (`flotilla drain`): its
FARGATE_SPOT tasks stop at once with stopCode SpotInterruption, its FARGATE service tasks are
replaced elsewhere, and the service comes back whole on the other machine.

Usage: fargate_capacity.py --endpoint URL --credentials FILE --region R --cluster C
                           --flotilla BIN --capacity-dir DIR --capacity-dir DIR
  (--capacity-dir: the --data-dir of each `flotilla agent --fargate`, whose state file names
  the agent's host and holds its credential; both machines hold a slice of one subnet)
Exits 0 when every check held, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time

from scenario import Checks, arguments, clients, run

SPOT_REASON = "Your Spot Task was interrupted."


class Capacity(Checks):
    def __init__(self, ecs, ec2, args):
        super().__init__()
        self.ecs, self.cluster = ecs, args.cluster
        self.flotilla, self.endpoint, self.region = args.flotilla, args.endpoint, args.region
        self.capacity_dirs = args.capacity_dir
        self.subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]]
        self.tasks: list[str] = []

    def network(self, public: str = "DISABLED") -> dict:
        return {"awsvpcConfiguration": {"subnets": self.subnets, "assignPublicIp": public}}

    def refusal(self, call, **request) -> str:
        try:
            call(**request)
        except (self.ecs.exceptions.InvalidParameterException, self.ecs.exceptions.ClientException) as error:
            return error.response["Error"]["Message"]
        except self.ecs.exceptions.PlatformUnknownException as error:
            return "PlatformUnknownException: " + error.response["Error"]["Message"]
        return "accepted"

    def describe(self, arns: list[str]) -> list[dict]:
        found = []
        for start in range(0, len(arns), 100):
            found += self.ecs.describe_tasks(cluster=self.cluster, tasks=arns[start:start + 100])["tasks"]
        return found

    def wait_running(self, arn: str) -> dict:
        deadline = time.time() + 60
        task: dict = {}
        while time.time() < deadline:
            task = self.describe([arn])[0]
            if task["lastStatus"] in ("RUNNING", "STOPPED"):
                break
            time.sleep(0.3)
        return task

    def run_fargate(self, definition: str, **extra) -> dict:
        """RunTask on FARGATE, waiting for the capacity to connect; the answer as it is."""
        deadline = time.time() + 60
        while True:
            try:
                answer = self.ecs.run_task(cluster=self.cluster, taskDefinition=definition, launchType="FARGATE",
                                           networkConfiguration=self.network(), **extra)
                self.tasks += [t["taskArn"] for t in answer["tasks"]]
                return answer
            except self.ecs.exceptions.InvalidParameterException as error:
                if "No Fargate capacity" not in str(error) or time.time() > deadline:
                    raise
                time.sleep(0.5)

    def service_tasks(self, service: str) -> list[dict]:
        arns = self.ecs.list_tasks(cluster=self.cluster, serviceName=service, desiredStatus="RUNNING")["taskArns"]
        return [t for t in self.describe(arns) if t["lastStatus"] == "RUNNING"] if arns else []

    def wait_service(self, service: str, count: int, good=lambda tasks: True) -> list[dict]:
        deadline = time.time() + 90
        tasks: list[dict] = []
        while time.time() < deadline:
            tasks = self.service_tasks(service)
            if len(tasks) == count and good(tasks):
                break
            time.sleep(0.5)
        return tasks

    @staticmethod
    def host_of(task: dict) -> str:
        """The agent (host id) running a task's container, from its Docker label."""
        done = subprocess.run(["docker", "inspect", "-f", '{{index .Config.Labels "io.flotilla.agent"}}',
                               task["containers"][0]["runtimeId"]], capture_output=True, text=True)
        return done.stdout.strip()

    def host_id(self, data_dir: str) -> str:
        with open(os.path.join(data_dir, "agent-state.json")) as state:
            return json.load(state)["host_id"]

    def drain(self, data_dir: str, *flags: str) -> str:
        done = subprocess.run([self.flotilla, "drain", "--server", self.endpoint, "--region", self.region,
                               "--data-dir", data_dir, *flags], capture_output=True, text=True, timeout=60)
        self.expect(f"flotilla drain {' '.join(flags)} succeeds", done.returncode == 0, done.stderr)
        return done.stdout

    def platform_checks(self, arn: str) -> None:
        ecs = self.ecs
        message = self.refusal(ecs.run_task, cluster=self.cluster, taskDefinition=arn, launchType="FARGATE",
                               networkConfiguration=self.network(), platformVersion="1.3.0")
        self.expect("a platform version the capacity does not run is refused",
                    message.startswith("PlatformUnknownException") and "does not exist" in message, message)
        message = self.refusal(ecs.run_task, cluster=self.cluster, taskDefinition=arn, launchType="EC2",
                               networkConfiguration=self.network(), platformVersion="LATEST")
        self.expect("an EC2 launch takes no platform version", "must be null" in message, message)
        task = self.wait_running(self.run_fargate(arn, platformVersion="LATEST")["tasks"][0]["taskArn"])
        self.expect("platformVersion LATEST runs 1.4.0", task["lastStatus"] == "RUNNING"
                    and task.get("platformVersion") == "1.4.0", (task["lastStatus"], task.get("platformVersion")))

    def runtime_platform_checks(self, web: dict) -> None:
        ecs = self.ecs
        here = "ARM64" if platform.machine() in ("aarch64", "arm64") else "X86_64"
        other = "X86_64" if here == "ARM64" else "ARM64"

        def definition(family: str, cpu: str, os_family: str = "LINUX"):
            return dict(family=family, requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256",
                        memory="512", containerDefinitions=[web],
                        runtimePlatform={"cpuArchitecture": cpu, "operatingSystemFamily": os_family})
        message = self.refusal(ecs.register_task_definition, **definition("fg-win", here, "WINDOWS_SERVER_2022_CORE"))
        self.expect("Windows task definitions are refused", "not supported" in message, message)
        native = ecs.register_task_definition(**definition("fg-native", here))["taskDefinition"]
        self.expect("runtimePlatform is kept", native.get("runtimePlatform", {}).get("cpuArchitecture") == here,
                    native.get("runtimePlatform"))
        foreign = ecs.register_task_definition(**definition("fg-foreign", other))["taskDefinition"]
        answer = self.run_fargate(foreign["taskDefinitionArn"])
        self.expect(f"a {other} task finds no {other} capacity", not answer["tasks"] and answer["failures"],
                    answer)
        task = self.wait_running(self.run_fargate(native["taskDefinitionArn"])["tasks"][0]["taskArn"])
        self.expect(f"a {here} task runs", task["lastStatus"] == "RUNNING", task.get("stoppedReason"))

    def task_set_checks(self, arn: str) -> None:
        ecs = self.ecs
        ecs.create_service(cluster=self.cluster, serviceName="fg-ext", desiredCount=1,
                           deploymentController={"type": "EXTERNAL"})
        created = ecs.create_task_set(cluster=self.cluster, service="fg-ext", taskDefinition=arn, launchType="FARGATE",
                                      networkConfiguration=self.network("ENABLED"),
                                      scale={"value": 100, "unit": "PERCENT"})["taskSet"]
        self.expect("a FARGATE task set shows its platform version",
                    created.get("launchType") == "FARGATE" and created.get("platformVersion") == "LATEST",
                    {k: created.get(k) for k in ("launchType", "platformVersion")})
        tasks = self.wait_service("fg-ext", 1)
        self.expect("a FARGATE task set runs on the Fargate capacity", len(tasks) == 1
                    and tasks[0].get("launchType") == "FARGATE" and "containerInstanceArn" not in tasks[0], tasks)
        ecs.delete_service(cluster=self.cluster, service="fg-ext", force=True)

    def service_checks(self, arn: str) -> None:
        ecs = self.ecs
        strategy = [{"capacityProvider": "FARGATE", "base": 1, "weight": 1},
                    {"capacityProvider": "FARGATE_SPOT", "weight": 2}]
        message = self.refusal(ecs.create_service, cluster=self.cluster, serviceName="fg-bad", taskDefinition=arn,
                               desiredCount=1, capacityProviderStrategy=strategy,
                               networkConfiguration=self.network(), placementConstraints=[{"type": "distinctInstance"}])
        self.expect("a service on Fargate by strategy takes no placement constraints", "FARGATE" in message, message)
        ecs.create_service(cluster=self.cluster, serviceName="fg-mix", taskDefinition=arn, desiredCount=4,
                           capacityProviderStrategy=strategy, networkConfiguration=self.network())
        tasks = self.wait_service("fg-mix", 4)
        providers = sorted(t.get("capacityProviderName", "") for t in tasks)
        self.expect("the service's tasks are shared by FARGATE and FARGATE_SPOT",
                    len(tasks) == 4 and "FARGATE" in providers and "FARGATE_SPOT" in providers, providers)
        self.expect("they run on the Fargate capacity", all(t.get("launchType") == "FARGATE"
                    and "containerInstanceArn" not in t for t in tasks), tasks)
        service = ecs.describe_services(cluster=self.cluster, services=["fg-mix"])["services"][0]
        self.expect("the service shows its strategy and no launch type",
                    "launchType" not in service and len(service.get("capacityProviderStrategy", [])) == 2,
                    {k: service.get(k) for k in ("launchType", "capacityProviderStrategy")})
        self.expect("the service shows platform version LATEST on Linux", service.get("platformVersion") == "LATEST"
                    and service.get("platformFamily") == "Linux", service.get("platformVersion"))
        deployment = service["deployments"][0]
        self.expect("its deployment shows the strategy", len(deployment.get("capacityProviderStrategy", [])) == 2
                    and deployment.get("platformVersion") == "LATEST", deployment)
        # The two machines hold two slices of one subnet, on two bridges: their tasks reach each
        # other by address (the default group admits its members).
        by_host: dict[str, dict] = {self.host_of(t): t for t in tasks}
        if len(by_host) == 2:
            caller, callee = by_host.values()
            address = {d["name"]: d["value"] for d in callee["attachments"][0]["details"]}["privateIPv4Address"]
            done = subprocess.run(["docker", "exec", caller["containers"][0]["runtimeId"], "timeout", "5", "wget",
                                   "-q", "-O", "-", f"http://{address}:80/"], capture_output=True, text=True, timeout=20)
            self.expect("a task on one machine reaches a task on the other, in the same subnet",
                        done.returncode == 0 and '"request"' in done.stdout, done.stderr)
        else:
            self.expect("the service's tasks are on both machines", False, list(by_host))
        # Tasks after a machine's first take its spare pause container (started ahead).
        taken = []
        for host in {self.host_of(t) for t in tasks}:
            listed = subprocess.run(["docker", "ps", "--filter", f"label=io.flotilla.spare-pause={host}",
                                     "--format", "{{.Names}}"], capture_output=True, text=True).stdout.split()
            taken += [name for name in listed if not name.startswith("flotilla-spare-pause-")]
        self.expect("tasks took spare pause containers (renamed to ECS's pause names)",
                    any("internalecspause" in name for name in taken), taken)
        message = self.refusal(ecs.update_service, cluster=self.cluster, service="fg-mix", platformVersion="1.3.0")
        self.expect("UpdateService checks the platform version",
                    message.startswith("PlatformUnknownException"), message)

    def drain_checks(self) -> None:
        tasks = self.service_tasks("fg-mix")
        hosts = {d: self.host_id(d) for d in self.capacity_dirs}
        by_host = {d: [t for t in tasks if self.host_of(t) == h] for d, h in hosts.items()}
        # Drain a machine running a FARGATE_SPOT task of the service.
        drained = next((d for d, ts in by_host.items()
                        if any(t.get("capacityProviderName") == "FARGATE_SPOT" for t in ts)), None)
        self.expect("a FARGATE_SPOT task runs on one of the machines", drained is not None, by_host)
        if drained is None:
            return
        spot = [t["taskArn"] for t in by_host[drained] if t.get("capacityProviderName") == "FARGATE_SPOT"]
        on_demand = [t["taskArn"] for t in by_host[drained] if t.get("capacityProviderName") == "FARGATE"]
        said = self.drain(drained)
        self.expect("the drain says how many Spot tasks it interrupted",
                    f"FARGATE_SPOT tasks interrupted: {len(spot)}" in said and "DRAINING" in said, said)
        interrupted = self.describe(spot)
        self.expect("the machine's FARGATE_SPOT tasks are told to stop at once, as a Spot interruption",
                    all(t["desiredStatus"] == "STOPPED" and t.get("stopCode") == "SpotInterruption"
                        and t.get("stoppedReason") == SPOT_REASON for t in interrupted),
                    [(t["desiredStatus"], t.get("stopCode"), t.get("stoppedReason")) for t in interrupted])
        left = hosts[drained]
        tasks = self.wait_service("fg-mix", 4, lambda ts: all(self.host_of(t) != left for t in ts))
        self.expect("the service runs its 4 tasks again, none on the drained machine",
                    len(tasks) == 4 and all(self.host_of(t) != left for t in tasks),
                    [(t.get("capacityProviderName"), self.host_of(t)) for t in tasks])
        replaced = self.describe(on_demand)
        self.expect("its FARGATE tasks there were replaced by the scheduler, not interrupted",
                    all(t.get("stopCode") == "ServiceSchedulerInitiated" for t in replaced),
                    [t.get("stopCode") for t in replaced])
        said = self.drain(drained, "--activate")
        self.expect("the machine is taken back", "is ACTIVE" in said, said)

    def scenario(self) -> None:
        ecs = self.ecs
        web = {"name": "web", "image": "flotilla/demo:latest", "command": ["serve", "--port", "80"],
               "portMappings": [{"containerPort": 80}], "stopTimeout": 5}
        arn = ecs.register_task_definition(
            family="fg-cap", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
            containerDefinitions=[web])["taskDefinition"]["taskDefinitionArn"]
        ecs.put_cluster_capacity_providers(cluster=self.cluster, capacityProviders=["FARGATE", "FARGATE_SPOT"],
                                           defaultCapacityProviderStrategy=[])
        self.platform_checks(arn)
        self.runtime_platform_checks(web)
        self.task_set_checks(arn)
        self.service_checks(arn)
        self.drain_checks()

    def clean_up(self) -> None:
        for service in ("fg-mix", "fg-ext"):
            try:
                self.ecs.delete_service(cluster=self.cluster, service=service, force=True)
            except self.ecs.exceptions.ClientError:
                pass
        for task in self.tasks:
            self.ecs.stop_task(cluster=self.cluster, task=task)
        self.wait_all_stopped(self.ecs, self.cluster)


def main() -> None:
    def extra(parser) -> None:
        parser.add_argument("--flotilla", required=True)
        parser.add_argument("--capacity-dir", action="append", required=True)
    args = arguments(__doc__, extra)
    ecs, ec2 = clients(args, "ecs", "ec2")
    capacity = Capacity(ecs, ec2, args)
    run("fargate_capacity", capacity.scenario, capacity, capacity.clean_up)


if __name__ == "__main__":
    main()
