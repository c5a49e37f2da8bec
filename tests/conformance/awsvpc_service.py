"""An awsvpc service, set up with botocore as a CLI run would: ECS's checks of its
`networkConfiguration` and of its target groups' type, its tasks each on an address of their own
in the service's subnet and security group, registered by address and container port in an `ip`
target group (real HTTP through the load balancer, admitted by a rule naming the load
balancer's group) and in Cloud Map (A records, looked up with nslookup from inside another
task), and a rolling update of the network configuration (new security groups on new tasks).

Usage: awsvpc_service.py --endpoint URL --credentials FILE --region R --cluster C
Exits 0 when every check held, 1 otherwise.
"""

from __future__ import annotations

import http.client
import subprocess
import time

from scenario import Checks, arguments, clients, run


class Scenario(Checks):
    def __init__(self, ecs, ec2, elb, sd, cluster: str):
        super().__init__()
        self.ecs, self.ec2, self.elb, self.sd, self.cluster = ecs, ec2, elb, sd, cluster
        subnet = ec2.describe_subnets()["Subnets"][0]
        self.subnet, self.vpc = subnet["SubnetId"], subnet["VpcId"]

    def refused(self, **request) -> str:
        try:
            self.ecs.create_service(cluster=self.cluster, desiredCount=1, **request)
        except self.ecs.exceptions.InvalidParameterException as error:
            return error.response["Error"]["Message"]
        return "accepted"

    def running(self, service: str) -> list[dict]:
        arns = self.ecs.list_tasks(cluster=self.cluster, serviceName=service, desiredStatus="RUNNING")["taskArns"]
        tasks = self.ecs.describe_tasks(cluster=self.cluster, tasks=arns)["tasks"] if arns else []
        return [t for t in tasks if t["lastStatus"] == "RUNNING"]

    @staticmethod
    def address(task: dict) -> str:
        details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
        return details["privateIPv4Address"]

    def wait(self, what: str, check, seconds: float = 60):
        deadline = time.time() + seconds
        while True:
            got = check()
            if got:
                return got
            if time.time() > deadline:
                self.expect(what, False, "timed out")
                return got
            time.sleep(0.5)

    def run(self) -> None:
        ec2, elb, ecs, sd = self.ec2, self.elb, self.ecs, self.sd
        alb_group = ec2.create_security_group(GroupName="alb", Description="alb", VpcId=self.vpc)["GroupId"]
        web_group = ec2.create_security_group(GroupName="web", Description="web", VpcId=self.vpc)["GroupId"]
        default_group = ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
        # The web tasks take the load balancer's traffic and their callers' (the default group).
        ec2.authorize_security_group_ingress(GroupId=web_group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": alb_group}]},
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": default_group}]},
        ])

        lb = elb.create_load_balancer(Name="vpc-web", Subnets=[self.subnet], SecurityGroups=[alb_group])
        lb = lb["LoadBalancers"][0]
        lb_address = lb["AvailabilityZones"][0]["LoadBalancerAddresses"][0]["IpAddress"]
        ip_group = elb.create_target_group(
            Name="vpc-web-ip", Protocol="HTTP", Port=80, VpcId=self.vpc, TargetType="ip", HealthCheckPath="/healthz",
            HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
        )["TargetGroups"][0]["TargetGroupArn"]
        # Stopped tasks drain for 5 s, not ELB's default 300 s.
        elb.modify_target_group_attributes(TargetGroupArn=ip_group, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "5"}])
        instance_group = elb.create_target_group(
            Name="vpc-web-instance", Protocol="HTTP", Port=80, VpcId=self.vpc,
        )["TargetGroups"][0]["TargetGroupArn"]
        for group, port in ((ip_group, 80), (instance_group, 81)):
            elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port,
                                DefaultActions=[{"Type": "forward", "TargetGroupArn": group}])

        op = sd.create_private_dns_namespace(Name="vpc.local", Vpc=self.vpc)["OperationId"]
        namespace = sd.get_operation(OperationId=op)["Operation"]["Targets"]["NAMESPACE"]
        registry = sd.create_service(Name="web", NamespaceId=namespace,
                                     DnsConfig={"DnsRecords": [{"Type": "A", "TTL": 5},
                                                               {"Type": "SRV", "TTL": 5}]})["Service"]["Arn"]

        container = {"name": "web", "image": "flotilla/demo:latest", "memory": 64,
                     "command": ["serve", "--port", "80"], "portMappings": [{"containerPort": 80}]}
        web = ecs.register_task_definition(family="vpc-web", networkMode="awsvpc",
                                           containerDefinitions=[container])["taskDefinition"]["taskDefinitionArn"]
        network = {"awsvpcConfiguration": {"subnets": [self.subnet], "securityGroups": [web_group]}}
        balancer = {"targetGroupArn": ip_group, "containerName": "web", "containerPort": 80}

        # ECS's checks.
        message = self.refused(serviceName="bad", taskDefinition=web)
        self.expect("an awsvpc service needs a network configuration",
                    "Network Configuration must be provided" in message, message)
        message = self.refused(serviceName="bad", taskDefinition=web, networkConfiguration=network,
                               loadBalancers=[{**balancer, "targetGroupArn": instance_group}])
        self.expect("an instance target group is refused for awsvpc",
                    "incompatible with the awsvpc network mode" in message, message)
        message = self.refused(serviceName="bad", taskDefinition=web, networkConfiguration={
            "awsvpcConfiguration": {"subnets": ["subnet-0000000000000000f"]}})
        self.expect("an unknown subnet is named", "subnet-0000000000000000f" in message, message)

        message = self.refused(serviceName="bad", taskDefinition=web, networkConfiguration=network,
                               serviceRegistries=[{"registryArn": registry}])
        self.expect("an SRV record needs a port", "SRV record" in message, message)
        message = self.refused(serviceName="bad", taskDefinition=web, networkConfiguration=network,
                               serviceRegistries=[{"registryArn": registry, "port": 80, "containerName": "web",
                                                   "containerPort": 80}])
        self.expect("a registry's port and container port do not go together", "not both" in message, message)
        ecs.create_service(cluster=self.cluster, serviceName="vpc-web", taskDefinition=web, desiredCount=2,
                           networkConfiguration=network, loadBalancers=[balancer],
                           serviceRegistries=[{"registryArn": registry, "port": 80}])
        described = ecs.describe_services(cluster=self.cluster, services=["vpc-web"])["services"][0]
        shown = described.get("networkConfiguration", {}).get("awsvpcConfiguration", {})
        self.expect("DescribeServices shows the network configuration",
                    shown.get("subnets") == [self.subnet] and shown.get("securityGroups") == [web_group], shown)
        shown = described["deployments"][0].get("networkConfiguration", {}).get("awsvpcConfiguration", {})
        self.expect("so does its deployment", shown.get("securityGroups") == [web_group], shown)

        tasks = self.wait("two tasks run", lambda: (lambda t: t if len(t) == 2 else None)(self.running("vpc-web")))
        if not tasks:
            return
        addresses = sorted(self.address(t) for t in tasks)
        self.expect("each task its own address", len(set(addresses)) == 2, addresses)
        self.expect("no host port taken", all(not c.get("networkBindings") for t in tasks for c in t["containers"]),
                    tasks)

        # The ip target group: the tasks' addresses and container port, healthy.
        def targets() -> list[tuple[str, int, str]] | None:
            health = elb.describe_target_health(TargetGroupArn=ip_group)["TargetHealthDescriptions"]
            found = sorted((h["Target"]["Id"], h["Target"]["Port"], h["TargetHealth"]["State"]) for h in health)
            return found if found == [(a, 80, "healthy") for a in addresses] else None
        found = self.wait("the tasks are healthy ip targets", targets)
        self.expect("ip targets are the tasks' addresses on the container port", bool(found), found)
        answers = []
        for _ in range(6):
            connection = http.client.HTTPConnection(lb_address, 80, timeout=8)
            try:
                connection.request("GET", "/")
                answers.append(connection.getresponse().status)
            except OSError as error:
                answers.append(str(error))
            finally:
                connection.close()
        self.expect("HTTP through the load balancer reaches the tasks", answers == [200] * 6, answers)

        # Cloud Map: the tasks' addresses, in the API and in DNS from inside another task.
        def discovered() -> list[str] | None:
            found = sd.discover_instances(NamespaceName="vpc.local", ServiceName="web", HealthStatus="ALL")
            ips = sorted(i["Attributes"].get("AWS_INSTANCE_IPV4", "") for i in found["Instances"])
            ports = {i["Attributes"].get("AWS_INSTANCE_PORT") for i in found["Instances"]}
            return ips if ips == addresses and ports == {"80"} else None
        self.expect("Cloud Map's instances are at the tasks' addresses and the registry's port",
                    bool(self.wait("instances registered", discovered)), addresses)
        shell = ecs.register_task_definition(family="vpc-shell", networkMode="awsvpc", containerDefinitions=[
            {"name": "shell", "image": "flotilla/demo:latest", "memory": 32, "command": ["sleep"]}],
        )["taskDefinition"]["taskDefinitionArn"]
        caller = ecs.run_task(cluster=self.cluster, taskDefinition=shell, networkConfiguration={
            "awsvpcConfiguration": {"subnets": [self.subnet]}})["tasks"][0]["taskArn"]
        self.caller = caller
        container = self.wait("the caller runs", lambda: next(
            (t["containers"][0]["runtimeId"] for t in ecs.describe_tasks(cluster=self.cluster, tasks=[caller])["tasks"]
             if t["lastStatus"] == "RUNNING"), None))

        def looked_up() -> list[str] | None:
            done = subprocess.run(["docker", "exec", container, "nslookup", "-type=a", "web.vpc.local"],
                                  capture_output=True, text=True, timeout=20)
            found = sorted(a for a in addresses if a in done.stdout)
            return found if found == addresses else None
        self.expect("an A lookup from inside a task answers the tasks' addresses",
                    bool(self.wait("A records", looked_up, 30)), addresses)

        def fetched() -> bool:
            done = subprocess.run(["docker", "exec", container, "timeout", "3", "wget", "-q", "-O", "/dev/null",
                                   "http://web.vpc.local/"], capture_output=True, timeout=20)
            return done.returncode == 0
        self.expect("the caller (default group) reaches the service by name", bool(self.wait("by name", fetched, 30)))

        # A task set (EXTERNAL deployments) takes its own network configuration.
        ecs.create_service(cluster=self.cluster, serviceName="vpc-ext", desiredCount=1,
                           deploymentController={"type": "EXTERNAL"})
        task_set = ecs.create_task_set(cluster=self.cluster, service="vpc-ext", taskDefinition=web,
                                       networkConfiguration=network, scale={"value": 100, "unit": "PERCENT"},
                                       serviceRegistries=[{"registryArn": registry, "port": 80}])
        registries = task_set["taskSet"].get("serviceRegistries", [])
        self.expect("the task set shows its registry's port", [r.get("port") for r in registries] == [80],
                    registries)
        shown = task_set["taskSet"].get("networkConfiguration", {}).get("awsvpcConfiguration", {})
        self.expect("the task set shows its network configuration", shown.get("securityGroups") == [web_group],
                    shown)
        ext = self.wait("the task set's task runs", lambda: self.running("vpc-ext"))
        self.expect("the task set's task has its own address in the subnet",
                    bool(ext) and self.address(ext[0]) not in addresses
                    and self.groups(ext[0]) == [web_group], ext)
        ecs.update_service(cluster=self.cluster, service="vpc-ext", desiredCount=0)
        ecs.delete_service(cluster=self.cluster, service="vpc-ext", force=True)

        # A new network configuration rolls out: new tasks in the new group only.
        other = ec2.create_security_group(GroupName="web-2", Description="web-2", VpcId=self.vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=other, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": alb_group}]}])
        ecs.update_service(cluster=self.cluster, service="vpc-web", networkConfiguration={
            "awsvpcConfiguration": {"subnets": [self.subnet], "securityGroups": [other]}})
        described = ecs.describe_services(cluster=self.cluster, services=["vpc-web"])["services"][0]
        self.expect("the update starts a deployment", len(described["deployments"]) == 2, described["deployments"])

        def rolled() -> list[dict] | None:
            tasks = self.running("vpc-web")
            groups = [self.groups(t) for t in tasks]
            return tasks if len(tasks) == 2 and all(g == [other] for g in groups) else None
        self.expect("the new tasks carry the new group", bool(self.wait("rolled out", rolled, 120)))

    def groups(self, task: dict) -> list[str]:
        described = self.ec2.describe_network_interfaces(
            Filters=[{"Name": "addresses.private-ip-address", "Values": [self.address(task)]}])
        interfaces = described["NetworkInterfaces"]
        return [g["GroupId"] for g in interfaces[0]["Groups"]] if interfaces else []

    def clean_up(self) -> None:
        self.ecs.update_service(cluster=self.cluster, service="vpc-web", desiredCount=0)
        self.ecs.delete_service(cluster=self.cluster, service="vpc-web", force=True)
        if getattr(self, "caller", None):
            self.ecs.stop_task(cluster=self.cluster, task=self.caller)
        self.wait_all_stopped(self.ecs, self.cluster)


def main() -> None:
    args = arguments(__doc__)
    scenario = Scenario(*clients(args, "ecs", "ec2", "elbv2", "servicediscovery"), args.cluster)
    run("awsvpc service", scenario.run, scenario, scenario.clean_up)


if __name__ == "__main__":
    main()
