"""The FARGATE launch type on operator-run capacity (`flotilla agent --fargate`), driven with
botocore as a CLI run would: ECS's refusals, FARGATE tasks as ECS shows them (launchType,
platformVersion, no container instance, the ENI attachment), the capacity never listed among the
cluster's instances, `assignPublicIp` ENABLED meaning the host's NAT (a server outside the VPC
sees the host's address; with DISABLED, the task's own), and a FARGATE service.

Usage: fargate.py --endpoint URL --credentials FILE --region R --cluster C --outside IP
                  --outside-gateway IP
  (--outside: a demo server on port 8080 outside the VPC, on Docker's bridge; --outside-gateway:
  the host's address on that network)
Exits 0 when every check held, 1 otherwise.
"""

from __future__ import annotations

import json
import subprocess
import time

from scenario import Checks, arguments, clients, run


class Fargate(Checks):
    def __init__(self, ecs, ec2, cluster: str, outside: str, outside_gateway: str):
        super().__init__()
        self.ecs, self.ec2, self.cluster, self.outside = ecs, ec2, cluster, outside
        # The host's address on the outside server's network: what a NAT makes the source.
        self.outside_gateway = outside_gateway
        self.subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
        self.tasks: list[str] = []

    def network(self, public: str) -> dict:
        return {"awsvpcConfiguration": {"subnets": [self.subnet], "assignPublicIp": public}}

    def refused(self, **request) -> str:
        try:
            self.ecs.run_task(cluster=self.cluster, **request)
        except self.ecs.exceptions.InvalidParameterException as error:
            return error.response["Error"]["Message"]
        except self.ecs.exceptions.ClientException as error:
            return error.response["Error"]["Message"]
        return "accepted"

    def run(self, definition: str, public: str) -> dict:
        """Runs a FARGATE task (waiting for the capacity to connect) until it runs."""
        deadline = time.time() + 60
        while True:
            try:
                task = self.ecs.run_task(cluster=self.cluster, taskDefinition=definition, launchType="FARGATE",
                                         networkConfiguration=self.network(public))["tasks"][0]
                break
            except self.ecs.exceptions.InvalidParameterException as error:
                if "No Fargate capacity" not in str(error) or time.time() > deadline:
                    raise
                time.sleep(0.5)
        self.tasks.append(task["taskArn"])
        while time.time() < deadline:
            task = self.ecs.describe_tasks(cluster=self.cluster, tasks=[task["taskArn"]])["tasks"][0]
            if task["lastStatus"] in ("RUNNING", "STOPPED"):
                break
            time.sleep(0.3)
        self.expect(f"a FARGATE task ({public}) runs", task["lastStatus"] == "RUNNING", task.get("stoppedReason"))
        return task

    @staticmethod
    def address(task: dict) -> str:
        details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
        return details.get("privateIPv4Address", "")

    def peer_seen_by_outside(self, task: dict) -> str | None:
        """The address the outside server saw the task's request come from."""
        container = task["containers"][0]["runtimeId"]
        done = subprocess.run(["docker", "exec", container, "timeout", "5", "wget", "-q", "-O", "-",
                               f"http://{self.outside}:8080/"], capture_output=True, text=True, timeout=20)
        try:
            return json.loads(done.stdout)["request"]["peer"]
        except (ValueError, KeyError):
            return None

    def scenario(self) -> None:
        ecs = self.ecs
        web = {"name": "web", "image": "flotilla/demo:latest", "command": ["serve", "--port", "80"],
               "portMappings": [{"containerPort": 80}]}
        fargate = ecs.register_task_definition(
            family="fg-web", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
            containerDefinitions=[web])["taskDefinition"]
        self.expect("a FARGATE definition registers with FARGATE among its compatibilities",
                    "FARGATE" in fargate.get("compatibilities", []), fargate.get("compatibilities"))
        ec2_only = ecs.register_task_definition(
            family="vpc-only", networkMode="awsvpc", containerDefinitions=[{**web, "memory": 64}],
        )["taskDefinition"]["taskDefinitionArn"]
        arn = fargate["taskDefinitionArn"]

        message = self.refused(taskDefinition=ec2_only, launchType="FARGATE",
                               networkConfiguration=self.network("DISABLED"))
        self.expect("a definition without FARGATE compatibility is refused",
                    "does not support launch_type FARGATE" in message, message)
        message = self.refused(taskDefinition=arn, launchType="FARGATE")
        self.expect("FARGATE needs a network configuration", "Network Configuration must be provided" in message,
                    message)
        message = self.refused(taskDefinition=arn, launchType="FARGATE", networkConfiguration=self.network("DISABLED"),
                               placementConstraints=[{"type": "distinctInstance"}])
        self.expect("FARGATE takes no placement constraints", "FARGATE launch type" in message, message)
        message = self.refused(taskDefinition=arn, networkConfiguration=self.network("ENABLED"))
        self.expect("assignPublicIp ENABLED is refused for the EC2 launch type",
                    "not supported for this launch type" in message, message)

        public = self.run(arn, "ENABLED")
        private = self.run(arn, "DISABLED")
        self.expect("launchType FARGATE", public.get("launchType") == "FARGATE", public.get("launchType"))
        done = subprocess.run(["docker", "exec", public["containers"][0]["runtimeId"], "sh", "-c",
                               'wget -q -O - "$ECS_CONTAINER_METADATA_URI_V4/task"'],
                              capture_output=True, text=True, timeout=20)
        try:
            launch_type = json.loads(done.stdout).get("LaunchType")
        except ValueError:
            launch_type = done.stderr
        self.expect("the task metadata endpoint says FARGATE", launch_type == "FARGATE", launch_type)
        self.expect("platformVersion and platformFamily", public.get("platformVersion") == "1.4.0"
                    and public.get("platformFamily") == "Linux", (public.get("platformVersion"),
                                                                  public.get("platformFamily")))
        self.expect("no container instance", "containerInstanceArn" not in public, public.get("containerInstanceArn"))
        attachment = public.get("attachments", [{}])[0]
        self.expect("the ENI attachment", attachment.get("type") == "ElasticNetworkInterface"
                    and attachment.get("status") == "ATTACHED", attachment)
        instances = ecs.list_container_instances(cluster=self.cluster)["containerInstanceArns"]
        self.expect("the Fargate capacity is not among the cluster's instances", instances == [], instances)
        cluster = ecs.describe_clusters(clusters=[self.cluster])["clusters"][0]
        self.expect("the cluster counts its FARGATE tasks", cluster["runningTasksCount"] == 2
                    and cluster["registeredContainerInstancesCount"] == 0, cluster)

        gateway = self.outside_gateway
        seen = self.peer_seen_by_outside(public)
        self.expect("assignPublicIp ENABLED: the outside sees the host's address (NAT)",
                    seen == gateway and seen != self.address(public), (seen, gateway, self.address(public)))
        seen = self.peer_seen_by_outside(private)
        self.expect("assignPublicIp DISABLED: the outside sees the task's own address",
                    seen == self.address(private), (seen, self.address(private)))

        # FARGATE_SPOT by capacity provider strategy: the same capacity, the provider named.
        ecs.put_cluster_capacity_providers(cluster=self.cluster, capacityProviders=["FARGATE", "FARGATE_SPOT"],
                                           defaultCapacityProviderStrategy=[])
        message = self.refused(taskDefinition=arn, networkConfiguration=self.network("DISABLED"),
                               capacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
                               launchType="FARGATE")
        self.expect("a strategy beside a launch type is refused", "Specifying both" in message, message)
        spot = None
        deadline = time.time() + 60
        arn_spot = ecs.run_task(cluster=self.cluster, taskDefinition=arn, networkConfiguration=self.network("DISABLED"),
                                capacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
                                )["tasks"][0]["taskArn"]
        self.tasks.append(arn_spot)
        while time.time() < deadline:
            spot = ecs.describe_tasks(cluster=self.cluster, tasks=[arn_spot])["tasks"][0]
            if spot["lastStatus"] in ("RUNNING", "STOPPED"):
                break
            time.sleep(0.3)
        self.expect("a FARGATE_SPOT task runs on the Fargate capacity",
                    spot["lastStatus"] == "RUNNING" and spot.get("capacityProviderName") == "FARGATE_SPOT"
                    and spot.get("launchType") == "FARGATE" and "containerInstanceArn" not in spot,
                    {k: spot.get(k) for k in ("lastStatus", "capacityProviderName", "launchType", "stoppedReason")})

        ecs.create_service(cluster=self.cluster, serviceName="fg-svc", taskDefinition=arn, desiredCount=1,
                           launchType="FARGATE", networkConfiguration=self.network("DISABLED"))
        deadline = time.time() + 60
        running = []
        while time.time() < deadline:
            arns = ecs.list_tasks(cluster=self.cluster, serviceName="fg-svc", desiredStatus="RUNNING")["taskArns"]
            running = [t for t in (ecs.describe_tasks(cluster=self.cluster, tasks=arns)["tasks"] if arns else [])
                       if t["lastStatus"] == "RUNNING"]
            if running:
                break
            time.sleep(0.5)
        self.expect("a FARGATE service runs its task on the Fargate capacity",
                    len(running) == 1 and running[0].get("launchType") == "FARGATE", running)
        described = ecs.describe_services(cluster=self.cluster, services=["fg-svc"])["services"][0]
        self.expect("the service's launch type", described.get("launchType") == "FARGATE", described.get("launchType"))
        ecs.update_service(cluster=self.cluster, service="fg-svc", desiredCount=0)
        ecs.delete_service(cluster=self.cluster, service="fg-svc", force=True)

    def stop_all(self) -> None:
        for task in self.tasks:
            self.ecs.stop_task(cluster=self.cluster, task=task)
        self.wait_all_stopped(self.ecs, self.cluster)


def main() -> None:
    def outside(parser) -> None:
        parser.add_argument("--outside", required=True)
        parser.add_argument("--outside-gateway", required=True)
    args = arguments(__doc__, outside)
    fargate = Fargate(*clients(args, "ecs", "ec2"), args.cluster, args.outside, args.outside_gateway)
    run("fargate", fargate.scenario, fargate, fargate.stop_all)


if __name__ == "__main__":
    main()
