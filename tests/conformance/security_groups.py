"""Security groups enforced on awsvpc tasks, set up with botocore as a CLI run would and tested
from other tasks (wget inside their containers, through `docker exec`) and through a load
balancer: ingress by source group and by CIDR, egress, replies to allowed connections passing
whatever the egress rules say, the default group letting its members talk, a load balancer's
group admitted by a rule naming it, and rule changes reaching running tasks within seconds
(new connections; as on AWS, tracked connections outlive the rule that let them in).

Usage: security_groups.py --endpoint URL --credentials FILE --region R --cluster C
Exits 0 when every check held, 1 otherwise.
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import time

from scenario import Checks, arguments, clients, run

# How long a rule change or a new member may take to reach the tasks' firewalls.
PROPAGATION_SECONDS = 20


class Groups(Checks):
    def __init__(self, ecs, ec2, elb, cluster: str):
        super().__init__()
        self.ecs, self.ec2, self.elb, self.cluster = ecs, ec2, elb, cluster
        subnet = ec2.describe_subnets()["Subnets"][0]
        self.subnet, self.vpc = subnet["SubnetId"], subnet["VpcId"]
        groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])
        self.default_group = groups["SecurityGroups"][0]["GroupId"]
        self.tasks: list[str] = []

    def group(self, name: str) -> str:
        return self.ec2.create_security_group(GroupName=name, Description=name, VpcId=self.vpc)["GroupId"]

    def permission(self, port: int | None, group: str | None = None, cidr: str | None = None) -> dict:
        permission: dict = {"IpProtocol": "-1"} if port is None else {
            "IpProtocol": "tcp", "FromPort": port, "ToPort": port}
        if group:
            permission["UserIdGroupPairs"] = [{"GroupId": group}]
        if cidr:
            permission["IpRanges"] = [{"CidrIp": cidr}]
        return permission

    def register(self, family: str, command: list[str]) -> str:
        container = {"name": "main", "image": "flotilla/demo:latest", "memory": 64, "command": command,
                     "portMappings": [{"containerPort": 80}]}
        return self.ecs.register_task_definition(
            family=family, networkMode="awsvpc", containerDefinitions=[container],
        )["taskDefinition"]["taskDefinitionArn"]

    def run(self, definition: str, groups: list[str] | None) -> dict:
        """Runs one task in `groups` (None: none named, so the VPC's default group) and waits
        until it runs; answers its address and its container's Docker id."""
        vpc = {"subnets": [self.subnet], "assignPublicIp": "DISABLED"}
        if groups is not None:
            vpc["securityGroups"] = groups
        task = self.ecs.run_task(cluster=self.cluster, taskDefinition=definition,
                                 networkConfiguration={"awsvpcConfiguration": vpc})["tasks"][0]
        self.tasks.append(task["taskArn"])
        deadline = time.time() + 60
        while time.time() < deadline:
            task = self.ecs.describe_tasks(cluster=self.cluster, tasks=[task["taskArn"]])["tasks"][0]
            if task["lastStatus"] == "RUNNING":
                details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
                return {"ip": details["privateIPv4Address"], "container": task["containers"][0]["runtimeId"]}
            if task["lastStatus"] == "STOPPED":
                break
            time.sleep(0.3)
        raise RuntimeError(f"task did not run: {task.get('stoppedReason')} {task['lastStatus']}")

    @staticmethod
    def fetch(client: dict, server: dict) -> bool:
        """Whether `client`'s container gets an answer from port 80 of `server`."""
        # busybox's `timeout`, not wget's -T (the static build crashes on it): a dropped SYN
        # fails in 3 s instead of the kernel's two minutes.
        done = subprocess.run(["docker", "exec", client["container"], "timeout", "3", "wget", "-q", "-O",
                               "/dev/null", f"http://{server['ip']}/"], capture_output=True, timeout=20)
        return done.returncode == 0

    @staticmethod
    def from_host(server: dict) -> bool:
        try:
            with socket.create_connection((server["ip"], 80), timeout=2) as s:
                s.sendall(b"GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
                return s.recv(16).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    def eventually(self, what: str, check, wanted: bool) -> None:
        """Expects `check()` to come out `wanted` within the propagation time, and stay so."""
        deadline = time.time() + PROPAGATION_SECONDS
        while True:
            got = check()
            if got == wanted:
                self.expect(what, check() == wanted, "changed back")
                return
            if time.time() > deadline:
                self.expect(what, False, f"still {got} after {PROPAGATION_SECONDS} s")
                return
            time.sleep(0.5)

    def scenario(self) -> None:
        ec2 = self.ec2
        web_group, client_group, stranger_group, lb_group = (
            self.group(name) for name in ("web", "client", "stranger", "alb"))
        ec2.authorize_security_group_ingress(GroupId=web_group,
                                             IpPermissions=[self.permission(80, group=client_group)])
        server = self.register("sg-server", ["serve", "--port", "80"])
        shell = self.register("sg-shell", ["sleep"])
        web = self.run(server, [web_group])
        client = self.run(shell, [client_group])
        stranger = self.run(shell, [stranger_group])

        # Ingress by source group: members in, others (and the host) out.
        self.eventually("a member of the allowed group reaches the web task", lambda: self.fetch(client, web), True)
        self.expect("a task of another group is refused", not self.fetch(stranger, web))
        self.expect("the host is refused", not self.from_host(web))

        # A CIDR rule, added and revoked while the tasks run.
        by_address = self.permission(80, cidr=f"{stranger['ip']}/32")
        ec2.authorize_security_group_ingress(GroupId=web_group, IpPermissions=[by_address])
        self.eventually("an ingress rule added for an address lets it in", lambda: self.fetch(stranger, web), True)
        ec2.revoke_security_group_ingress(GroupId=web_group, IpPermissions=[by_address])
        self.eventually("the rule revoked keeps it out again", lambda: self.fetch(stranger, web), False)

        # Stateful: the web group may send nothing, yet answers its allowed clients.
        ec2.revoke_security_group_egress(GroupId=web_group, IpPermissions=[self.permission(None, cidr="0.0.0.0/0")])
        time.sleep(2)
        self.expect("replies pass whatever the egress rules say", self.fetch(client, web))

        # Egress: the client's group may send nothing, then only to the web group on port 80.
        ec2.revoke_security_group_egress(GroupId=client_group,
                                         IpPermissions=[self.permission(None, cidr="0.0.0.0/0")])
        self.eventually("egress revoked keeps the client in", lambda: self.fetch(client, web), False)
        ec2.authorize_security_group_egress(GroupId=client_group,
                                            IpPermissions=[self.permission(80, group=web_group)])
        self.eventually("egress to the web group lets it out again", lambda: self.fetch(client, web), True)

        # The default group: its members talk to each other; nobody else gets in.
        default_web = self.run(server, None)
        default_shell = self.run(shell, None)
        self.eventually("members of the default group reach each other",
                        lambda: self.fetch(default_shell, default_web), True)
        self.expect("a task outside the default group is refused", not self.fetch(stranger, default_web))

        # A load balancer with its own group: admitted by a rule naming that group.
        lb = self.elb.create_load_balancer(Name="sg-alb", Subnets=[self.subnet],
                                           SecurityGroups=[lb_group])["LoadBalancers"][0]
        address = lb["AvailabilityZones"][0]["LoadBalancerAddresses"][0]["IpAddress"]
        target_group = self.elb.create_target_group(
            Name="sg-web", Protocol="HTTP", Port=80, VpcId=self.vpc, TargetType="ip",
            HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
        )["TargetGroups"][0]["TargetGroupArn"]
        self.elb.register_targets(TargetGroupArn=target_group, Targets=[{"Id": web["ip"], "Port": 80}])
        listener = self.elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                                            DefaultActions=[{"Type": "forward", "TargetGroupArn": target_group}])
        through_lb = lambda: self.through(address) == 200  # noqa: E731
        self.expect("the load balancer is refused before a rule names its group", not through_lb())
        from_lb = self.permission(80, group=lb_group)
        ec2.authorize_security_group_ingress(GroupId=web_group, IpPermissions=[from_lb])
        self.eventually("a rule naming the load balancer's group lets its traffic in", through_lb, True)
        # (Revoking it would leave the load balancer's open connections working, as on AWS:
        # tracked connections outlive the rule that let them in.)
        self.elb.delete_listener(ListenerArn=listener["Listeners"][0]["ListenerArn"])
        self.elb.delete_target_group(TargetGroupArn=target_group)
        self.elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])

    @staticmethod
    def through(address: str) -> int | None:
        connection = http.client.HTTPConnection(address, 80, timeout=8)
        try:
            connection.request("GET", "/")
            return connection.getresponse().status
        except OSError:
            return None
        finally:
            connection.close()

    def stop_all(self) -> None:
        for task in self.tasks:
            self.ecs.stop_task(cluster=self.cluster, task=task)
        self.wait_all_stopped(self.ecs, self.cluster)


def main() -> None:
    args = arguments(__doc__)
    groups = Groups(*clients(args, "ecs", "ec2", "elbv2"), args.cluster)
    run("security groups", groups.scenario, groups, groups.stop_all)


if __name__ == "__main__":
    main()
