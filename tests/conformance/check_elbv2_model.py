"""ELBv2 through botocore's own query-protocol client, as a CLI or Terraform run calls it:
load balancers (an address each, subnets and security groups checked against EC2's records),
target groups, listeners and rules, targets and their health, attributes and tags, and ELB's
errors for what is missing, repeated or not supported yet. Traffic through the load balancer
is tested by lb_traffic.py.

Usage: check_elbv2_model.py --endpoint URL --credentials FILE --region REGION --instance ID
Exits 0 when every check held, 1 otherwise (each failure is listed).
"""

from __future__ import annotations

import argparse
import sys

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from check_ecs_model import read_credentials


class Check:
    def __init__(self, elb, ec2, instance: str):
        self.elb = elb
        self.ec2 = ec2
        self.instance = instance
        self.failures: list[str] = []
        subnets = ec2.describe_subnets()["Subnets"]
        self.subnets = [s["SubnetId"] for s in subnets]
        self.vpc = subnets[0]["VpcId"]

    def expect(self, what: str, ok: bool, detail: object = "") -> None:
        if not ok:
            self.failures.append(f"{what}: {detail}")

    def error(self, call, **params) -> tuple[str | None, str]:
        try:
            call(**params)
        except ClientError as error:
            return error.response["Error"]["Code"], error.response["Error"].get("Message", "")
        return None, ""

    def balancers(self) -> None:
        made = self.elb.create_load_balancer(Name="api-web", Subnets=self.subnets[:1],
                                             Scheme="internal", Tags=[{"Key": "team", "Value": "a"}])
        lb = made["LoadBalancers"][0]
        self.lb = lb["LoadBalancerArn"]
        self.expect("an ARN of ELB's form", ":loadbalancer/app/api-web/" in self.lb, self.lb)
        self.expect("the scheme", lb.get("Scheme") == "internal", lb)
        self.expect("an internal DNS name", lb.get("DNSName", "").startswith("internal-api-web-"), lb)
        self.expect("the VPC", lb.get("VpcId") == self.vpc, lb)
        address = lb["AvailabilityZones"][0]["LoadBalancerAddresses"][0]["IpAddress"]
        self.expect("an address of its own on loopback", address.startswith("127."), lb)
        groups = self.ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])
        default_group = groups["SecurityGroups"][0]["GroupId"]
        self.expect("the default security group", lb.get("SecurityGroups") == [default_group], lb)
        again = self.elb.create_load_balancer(Name="api-web", Subnets=self.subnets[:1], Scheme="internal")
        self.expect("a repeat answers with the same", again["LoadBalancers"][0]["LoadBalancerArn"] == self.lb, again)
        code, _ = self.error(self.elb.create_load_balancer, Name="api-web", Subnets=self.subnets[:1])
        self.expect("the same name, other settings", code == "DuplicateLoadBalancerName", code)
        other = self.elb.create_load_balancer(Name="api-other", Subnets=self.subnets[:1])["LoadBalancers"][0]
        other_address = other["AvailabilityZones"][0]["LoadBalancerAddresses"][0]["IpAddress"]
        self.expect("each its own address", other_address != address, (address, other_address))
        self.expect("internet-facing by default", other.get("Scheme") == "internet-facing", other)
        code, _ = self.error(self.elb.create_load_balancer, Name="api-bad", Subnets=["subnet-0000000000000000f"])
        self.expect("an unknown subnet", code == "SubnetNotFound", code)
        code, _ = self.error(self.elb.create_load_balancer, Name="api-bad", Subnets=self.subnets[:1],
                             SecurityGroups=["sg-0000000000000000f"])
        self.expect("an unknown security group", code == "InvalidSecurityGroup", code)
        code, _ = self.error(self.elb.create_load_balancer, Name="bad_name", Subnets=self.subnets[:1])
        self.expect("a bad name", code == "ValidationError", code)
        code, message = self.error(self.elb.create_load_balancer, Name="api-gwlb", Type="gateway", Subnets=self.subnets[:1])
        self.expect("gateway load balancers not yet", code == "ValidationError" and "not supported yet" in message, (code, message))
        described = self.elb.describe_load_balancers(Names=["api-web"])["LoadBalancers"]
        self.expect("described by name", [d["LoadBalancerArn"] for d in described] == [self.lb], described)
        self.expect("a state", described[0].get("State", {}).get("Code") in ("provisioning", "active"), described)
        page = self.elb.describe_load_balancers(PageSize=1)
        self.expect("pages", len(page["LoadBalancers"]) == 1 and "NextMarker" in page, page)
        rest = self.elb.describe_load_balancers(PageSize=1, Marker=page["NextMarker"])
        self.expect("the next page", len(rest["LoadBalancers"]) == 1 and "NextMarker" not in rest, rest)
        code, _ = self.error(self.elb.describe_load_balancers, LoadBalancerArns=[self.lb + "0"])
        self.expect("not found", code == "LoadBalancerNotFound", code)
        self.elb.delete_load_balancer(LoadBalancerArn=other["LoadBalancerArn"])
        self.elb.delete_load_balancer(LoadBalancerArn=other["LoadBalancerArn"])  # gone already: fine
        names = [d["LoadBalancerName"] for d in self.elb.describe_load_balancers()["LoadBalancers"]]
        self.expect("deleted", names == ["api-web"], names)

    def target_groups(self) -> None:
        made = self.elb.create_target_group(Name="api-tg", Protocol="HTTP", Port=8080, VpcId=self.vpc,
                                            HealthCheckPath="/healthz", HealthCheckIntervalSeconds=10,
                                            HealthCheckTimeoutSeconds=3, HealthyThresholdCount=2,
                                            UnhealthyThresholdCount=3, Matcher={"HttpCode": "200-299"},
                                            HealthCheckPort="traffic-port")
        tg = made["TargetGroups"][0]
        self.tg = tg["TargetGroupArn"]
        wanted = {"Protocol": "HTTP", "Port": 8080, "VpcId": self.vpc, "HealthCheckPath": "/healthz",
                  "HealthCheckIntervalSeconds": 10, "HealthCheckTimeoutSeconds": 3,
                  "HealthyThresholdCount": 2, "UnhealthyThresholdCount": 3, "TargetType": "instance",
                  "Matcher": {"HttpCode": "200-299"}, "HealthCheckPort": "traffic-port", "HealthCheckEnabled": True}
        for key, value in wanted.items():
            self.expect(f"target group {key}", tg.get(key) == value, tg)
        again = self.elb.create_target_group(Name="api-tg", Protocol="HTTP", Port=8080, VpcId=self.vpc,
                                             HealthCheckPath="/healthz", HealthCheckIntervalSeconds=10,
                                             HealthCheckTimeoutSeconds=3, HealthyThresholdCount=2,
                                             UnhealthyThresholdCount=3, Matcher={"HttpCode": "200-299"})
        self.expect("a repeat answers with the same", again["TargetGroups"][0]["TargetGroupArn"] == self.tg, again)
        code, _ = self.error(self.elb.create_target_group, Name="api-tg", Protocol="HTTP", Port=9090, VpcId=self.vpc)
        self.expect("the same name, other settings", code == "DuplicateTargetGroupName", code)
        code, _ = self.error(self.elb.create_target_group, Name="api-x", Protocol="HTTP", Port=80, VpcId="vpc-0000000000000000f")
        self.expect("an unknown VPC", code == "ValidationError", code)
        code, _ = self.error(self.elb.create_target_group, Name="api-x", Protocol="HTTP", Port=80, VpcId=self.vpc,
                             HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=5)
        self.expect("a timeout not below the interval", code == "ValidationError", code)
        code, message = self.error(self.elb.create_target_group, Name="api-x", Protocol="HTTP", Port=80,
                                   VpcId=self.vpc, ProtocolVersion="HTTP2")
        self.expect("HTTP/2 targets not yet", code == "ValidationError" and "not supported yet" in message, message)
        code, message = self.error(self.elb.create_target_group, Name="api-x", Protocol="UDP", Port=80, VpcId=self.vpc)
        self.expect("UDP not yet", code == "ValidationError" and "not supported yet" in message, message)
        code, message = self.error(self.elb.create_target_group, Name="api-x", Protocol="HTTP", Port=80, VpcId=self.vpc,
                                   HealthCheckProtocol="TCP")
        self.expect("an HTTP group's check is not TCP", code == "ValidationError" and "TCP" in message, message)
        ip = self.elb.create_target_group(Name="api-ip", Protocol="HTTP", Port=80, VpcId=self.vpc, TargetType="ip")
        self.ip_tg = ip["TargetGroups"][0]["TargetGroupArn"]
        self.expect("ip targets", ip["TargetGroups"][0].get("TargetType") == "ip", ip)
        modified = self.elb.modify_target_group(TargetGroupArn=self.tg, HealthCheckPath="/", HealthCheckIntervalSeconds=5,
                                                HealthCheckTimeoutSeconds=2)["TargetGroups"][0]
        self.expect("modified", (modified["HealthCheckPath"], modified["HealthCheckIntervalSeconds"]) == ("/", 5), modified)
        by_name = self.elb.describe_target_groups(Names=["api-tg", "api-ip"])["TargetGroups"]
        self.expect("described by name", [g["TargetGroupName"] for g in by_name] == ["api-tg", "api-ip"], by_name)
        code, _ = self.error(self.elb.describe_target_groups, TargetGroupArns=[self.tg + "0"])
        self.expect("not found", code == "TargetGroupNotFound", code)
        scratch = self.elb.create_target_group(Name="api-gone", Protocol="HTTP", Port=80, VpcId=self.vpc)
        self.elb.delete_target_group(TargetGroupArn=scratch["TargetGroups"][0]["TargetGroupArn"])
        code, _ = self.error(self.elb.describe_target_groups, Names=["api-gone"])
        self.expect("deleted", code == "TargetGroupNotFound", code)

    def listeners_and_rules(self) -> None:
        forward = [{"Type": "forward", "TargetGroupArn": self.tg}]
        made = self.elb.create_listener(LoadBalancerArn=self.lb, Protocol="HTTP", Port=80, DefaultActions=forward)
        listener = made["Listeners"][0]
        self.listener = listener["ListenerArn"]
        self.expect("a listener", (listener.get("Port"), listener.get("Protocol")) == (80, "HTTP"), listener)
        self.expect("its default action", listener["DefaultActions"][0].get("TargetGroupArn") == self.tg, listener)
        again = self.elb.create_listener(LoadBalancerArn=self.lb, Protocol="HTTP", Port=80, DefaultActions=forward)
        self.expect("a repeat answers with the same", again["Listeners"][0]["ListenerArn"] == self.listener, again)
        fixed = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}]
        code, _ = self.error(self.elb.create_listener, LoadBalancerArn=self.lb, Protocol="HTTP", Port=80, DefaultActions=fixed)
        self.expect("another listener on the port", code == "DuplicateListener", code)
        code, message = self.error(self.elb.create_listener, LoadBalancerArn=self.lb, Protocol="HTTPS", Port=443,
                                   DefaultActions=forward, Certificates=[{"CertificateArn": "arn:aws:acm:x"}])
        self.expect("HTTPS with a certificate ACM does not have", code == "CertificateNotFound", (code, message))
        code, message = self.error(self.elb.create_listener, LoadBalancerArn=self.lb, Protocol="HTTPS", Port=443,
                                   DefaultActions=forward)
        self.expect("HTTPS without a certificate", code == "ValidationError", (code, message))
        code, _ = self.error(self.elb.create_listener, LoadBalancerArn=self.lb, Protocol="HTTP", Port=81,
                             DefaultActions=[{"Type": "forward", "TargetGroupArn": self.tg + "0"}])
        self.expect("a forward to no group", code == "TargetGroupNotFound", code)
        groups = self.elb.describe_target_groups(LoadBalancerArn=self.lb)["TargetGroups"]
        self.expect("the group now serves the load balancer", [g["TargetGroupArn"] for g in groups] == [self.tg]
                    and groups[0].get("LoadBalancerArns") == [self.lb], groups)
        code, _ = self.error(self.elb.delete_target_group, TargetGroupArn=self.tg)
        self.expect("a group in use stays", code == "ResourceInUse", code)

        rule = self.elb.create_rule(ListenerArn=self.listener, Priority=10,
                                    Conditions=[{"Field": "path-pattern", "Values": ["/api/*"]}],
                                    Actions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
                                        {"TargetGroupArn": self.tg, "Weight": 3}]}}])["Rules"][0]
        self.expect("a rule's priority", rule.get("Priority") == "10" and rule.get("IsDefault") is False, rule)
        self.expect("path pattern both ways", rule["Conditions"][0].get("PathPatternConfig", {}).get("Values") == ["/api/*"], rule)
        second = self.elb.create_rule(ListenerArn=self.listener, Priority=20, Conditions=[
            {"Field": "host-header", "HostHeaderConfig": {"Values": ["*.example.com"]}},
            {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["GET"]}}],
            Actions=fixed)["Rules"][0]
        code, _ = self.error(self.elb.create_rule, ListenerArn=self.listener, Priority=10,
                             Conditions=[{"Field": "path-pattern", "Values": ["/x"]}], Actions=fixed)
        self.expect("a priority in use", code == "PriorityInUse", code)
        code, _ = self.error(self.elb.create_rule, ListenerArn=self.listener, Priority=30,
                             Conditions=[{"Field": "path-pattern", "Values": ["/1", "/2", "/3", "/4", "/5", "/6"]}], Actions=fixed)
        self.expect("more than five condition values", code == "ValidationError", code)
        code, message = self.error(self.elb.create_rule, ListenerArn=self.listener, Priority=30,
                                   Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"RegexValues": ["^/a$"]}}], Actions=fixed)
        self.expect("regex conditions not yet", "not supported yet" in message, (code, message))
        rules = self.elb.describe_rules(ListenerArn=self.listener)["Rules"]
        self.expect("rules by priority, the default last", [r["Priority"] for r in rules] == ["10", "20", "default"], rules)
        swapped = self.elb.set_rule_priorities(RulePriorities=[{"RuleArn": rule["RuleArn"], "Priority": 20},
                                                               {"RuleArn": second["RuleArn"], "Priority": 10}])
        self.expect("priorities swapped in one call", {r["RuleArn"]: r["Priority"] for r in swapped["Rules"]}
                    == {rule["RuleArn"]: "20", second["RuleArn"]: "10"}, swapped)
        modified = self.elb.modify_rule(RuleArn=second["RuleArn"], Conditions=[{"Field": "path-pattern", "Values": ["/b"]}])
        self.expect("a rule modified", modified["Rules"][0]["Conditions"][0]["Values"] == ["/b"], modified)
        default = [r for r in rules if r["IsDefault"]][0]
        code, _ = self.error(self.elb.delete_rule, RuleArn=default["RuleArn"])
        self.expect("the default rule stays", code == "OperationNotPermitted", code)
        self.elb.delete_rule(RuleArn=second["RuleArn"])
        code, _ = self.error(self.elb.describe_rules, RuleArns=[second["RuleArn"]])
        self.expect("a rule deleted", code == "RuleNotFound", code)
        moved = self.elb.modify_listener(ListenerArn=self.listener, Port=8081)["Listeners"][0]
        self.expect("a listener moved", moved["Port"] == 8081, moved)
        listeners = self.elb.describe_listeners(LoadBalancerArn=self.lb)["Listeners"]
        self.expect("described", [l["Port"] for l in listeners] == [8081], listeners)
        scratch = self.elb.create_listener(LoadBalancerArn=self.lb, Protocol="HTTP", Port=9000, DefaultActions=fixed)
        self.elb.delete_listener(ListenerArn=scratch["Listeners"][0]["ListenerArn"])
        code, _ = self.error(self.elb.describe_listeners, ListenerArns=[scratch["Listeners"][0]["ListenerArn"]])
        self.expect("a listener deleted", code == "ListenerNotFound", code)

    def targets(self) -> None:
        self.elb.register_targets(TargetGroupArn=self.tg, Targets=[{"Id": self.instance, "Port": 31000}])
        health = self.elb.describe_target_health(TargetGroupArn=self.tg)["TargetHealthDescriptions"]
        self.expect("a registered target", [(h["Target"]["Id"], h["Target"]["Port"]) for h in health]
                    == [(self.instance, 31000)], health)
        self.expect("a state of ELB's", health[0]["TargetHealth"]["State"] in ("initial", "unhealthy"), health)
        code, _ = self.error(self.elb.register_targets, TargetGroupArn=self.tg, Targets=[{"Id": "i-0000000000000000f"}])
        self.expect("an unknown instance", code == "InvalidTarget", code)
        code, _ = self.error(self.elb.register_targets, TargetGroupArn=self.ip_tg, Targets=[{"Id": "8.8.8.8"}])
        self.expect("a public IP target", code == "InvalidTarget", code)
        self.elb.register_targets(TargetGroupArn=self.ip_tg, Targets=[{"Id": "10.0.0.9"}])
        unused = self.elb.describe_target_health(TargetGroupArn=self.ip_tg)["TargetHealthDescriptions"]
        self.expect("a group no load balancer uses", unused[0]["TargetHealth"].get("Reason") == "Target.NotInUse", unused)
        self.elb.deregister_targets(TargetGroupArn=self.ip_tg, Targets=[{"Id": "10.0.0.9"}])
        gone = self.elb.describe_target_health(TargetGroupArn=self.ip_tg)["TargetHealthDescriptions"]
        self.expect("unused targets leave at once", gone == [], gone)
        self.elb.deregister_targets(TargetGroupArn=self.tg, Targets=[{"Id": self.instance, "Port": 31000}])
        draining = self.elb.describe_target_health(TargetGroupArn=self.tg)["TargetHealthDescriptions"]
        self.expect("a target in use drains", [h["TargetHealth"]["State"] for h in draining] == ["draining"], draining)
        code, _ = self.error(self.elb.deregister_targets, TargetGroupArn=self.tg, Targets=[{"Id": self.instance, "Port": 1}])
        self.expect("deregistering what is not there", code == "InvalidTarget", code)
        asked = self.elb.describe_target_health(TargetGroupArn=self.tg, Targets=[{"Id": self.instance, "Port": 2}])
        self.expect("a target asked about but not registered",
                    asked["TargetHealthDescriptions"][0]["TargetHealth"].get("Reason") == "Target.NotRegistered", asked)

    def attributes(self) -> None:
        attrs = {a["Key"]: a["Value"] for a in self.elb.describe_load_balancer_attributes(LoadBalancerArn=self.lb)["Attributes"]}
        self.expect("load balancer attributes", attrs.get("deletion_protection.enabled") == "false"
                    and attrs.get("routing.http.xff_header_processing.mode") == "append", attrs)
        self.elb.modify_load_balancer_attributes(LoadBalancerArn=self.lb, Attributes=[
            {"Key": "deletion_protection.enabled", "Value": "true"}])
        code, _ = self.error(self.elb.delete_load_balancer, LoadBalancerArn=self.lb)
        self.expect("deletion protection", code == "OperationNotPermitted", code)
        self.elb.modify_load_balancer_attributes(LoadBalancerArn=self.lb, Attributes=[
            {"Key": "deletion_protection.enabled", "Value": "false"}])
        code, message = self.error(self.elb.modify_load_balancer_attributes, LoadBalancerArn=self.lb, Attributes=[
            {"Key": "access_logs.s3.enabled", "Value": "true"}])
        self.expect("access logs not yet", code == "ValidationError" and "not supported yet" in message, message)
        code, _ = self.error(self.elb.modify_load_balancer_attributes, LoadBalancerArn=self.lb, Attributes=[
            {"Key": "no.such.key", "Value": "1"}])
        self.expect("an unknown key", code == "ValidationError", code)
        changed = self.elb.modify_target_group_attributes(TargetGroupArn=self.tg, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "5"}])
        values = {a["Key"]: a["Value"] for a in changed["Attributes"]}
        self.expect("a deregistration delay", values.get("deregistration_delay.timeout_seconds") == "5", values)
        code, message = self.error(self.elb.modify_target_group_attributes, TargetGroupArn=self.tg, Attributes=[
            {"Key": "stickiness.enabled", "Value": "true"}, {"Key": "stickiness.type", "Value": "app_cookie"}])
        self.expect("app_cookie stickiness needs the cookie's name",
                    code == "ValidationError" and "stickiness.app_cookie.cookie_name" in message, (code, message))
        code, message = self.error(self.elb.modify_target_group_attributes, TargetGroupArn=self.tg, Attributes=[
            {"Key": "slow_start.duration_seconds", "Value": "30"}])
        self.expect("slow start not yet", "not supported yet" in message, (code, message))
        changed = self.elb.modify_target_group_attributes(TargetGroupArn=self.tg, Attributes=[
            {"Key": "stickiness.enabled", "Value": "true"}, {"Key": "stickiness.type", "Value": "app_cookie"},
            {"Key": "stickiness.app_cookie.cookie_name", "Value": "SESSION"}])
        values = {a["Key"]: a["Value"] for a in changed["Attributes"]}
        self.expect("app_cookie stickiness", (values.get("stickiness.type"), values.get("stickiness.app_cookie.cookie_name"))
                    == ("app_cookie", "SESSION"), values)
        listener = {a["Key"]: a["Value"] for a in self.elb.describe_listener_attributes(ListenerArn=self.listener)["Attributes"]}
        self.expect("listener attributes", listener.get("routing.http.response.server.enabled") == "true", listener)
        self.elb.modify_listener_attributes(ListenerArn=self.listener, Attributes=[
            {"Key": "routing.http.response.server.enabled", "Value": "false"}])

    def tags(self) -> None:
        self.elb.add_tags(ResourceArns=[self.lb, self.tg], Tags=[{"Key": "env", "Value": "test"}])
        described = self.elb.describe_tags(ResourceArns=[self.lb, self.tg])["TagDescriptions"]
        lb_tags = {t["Key"]: t.get("Value") for t in described[0]["Tags"]}
        self.expect("tags from create and AddTags", lb_tags == {"team": "a", "env": "test"}, described)
        self.elb.remove_tags(ResourceArns=[self.lb], TagKeys=["team"])
        left = self.elb.describe_tags(ResourceArns=[self.lb])["TagDescriptions"][0]["Tags"]
        self.expect("a tag removed", [t["Key"] for t in left] == ["env"], left)
        code, _ = self.error(self.elb.add_tags, ResourceArns=[self.lb], Tags=[{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}])
        self.expect("a key twice", code == "DuplicateTagKeys", code)
        code, _ = self.error(self.elb.add_tags, ResourceArns=[self.lb], Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
        self.expect("more than 50 tags", code == "TooManyTags", code)
        code, _ = self.error(self.elb.describe_tags, ResourceArns=[self.tg + "0"])
        self.expect("tags of no group", code == "TargetGroupNotFound", code)

    def cleanup(self) -> None:
        self.elb.delete_load_balancer(LoadBalancerArn=self.lb)
        code, _ = self.error(self.elb.describe_listeners, ListenerArns=[self.listener])
        self.expect("listeners go with their load balancer", code == "ListenerNotFound", code)
        self.elb.delete_target_group(TargetGroupArn=self.tg)
        code, _ = self.error(self.elb.describe_target_groups, TargetGroupArns=[self.tg])
        self.expect("a group no longer in use can go", code == "TargetGroupNotFound", code)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--credentials", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--instance", required=True, help="the ec2InstanceId of a registered instance")
    args = parser.parse_args()
    key = read_credentials(args.credentials)
    session = botocore.session.get_session()
    clients = [session.create_client(
        service, endpoint_url=args.endpoint, region_name=args.region,
        aws_access_key_id=key[0], aws_secret_access_key=key[1],
        config=Config(retries={"total_max_attempts": 1}, parameter_validation=False),
    ) for service in ("elbv2", "ec2")]
    check = Check(clients[0], clients[1], args.instance)
    steps = [check.balancers, check.target_groups, check.listeners_and_rules, check.targets,
             check.attributes, check.tags, check.cleanup]
    for step in steps:
        try:
            step()
        except ClientError as error:
            check.failures.append(f"{step.__name__}: unexpected {error}")
            break
    for failure in check.failures:
        print(f"FAIL {failure}")
    print(f"ELBv2: {len(check.failures)} failure(s)")
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
