"""Cloud Map through botocore's own client: private DNS and HTTP namespaces, services, instances,
DiscoverInstances — sent to the `data-` host prefix as botocore sends it by default (the host
resolved to the server here), and without it (`inject_host_prefix=False`) — custom health,
operations and tags, with Cloud Map's errors.

Usage: check_servicediscovery_model.py --endpoint URL --credentials FILE --region REGION
Exits 0 when every check held, 1 otherwise (each failure is listed).
"""

from __future__ import annotations

import argparse
import socket
import sys
from urllib.parse import urlparse

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from check_ecs_model import read_credentials


class Check:
    def __init__(self, sd, sd_prefixed, ec2):
        self.sd, self.prefixed, self.ec2 = sd, sd_prefixed, ec2
        self.failures: list[str] = []

    def expect(self, what: str, ok: bool, detail: object = "") -> None:
        if not ok:
            self.failures.append(f"{what}: {detail}")

    def error(self, call, **params) -> str | None:
        try:
            call(**params)
        except ClientError as error:
            return error.response["Error"]["Code"]
        return None

    def namespaces(self) -> None:
        vpc = self.ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
        op = self.sd.create_private_dns_namespace(Name="prod.local", Vpc=vpc, CreatorRequestId="req-1",
                                                  Tags=[{"Key": "team", "Value": "web"}])["OperationId"]
        operation = self.sd.get_operation(OperationId=op)["Operation"]
        self.expect("the operation succeeded", operation.get("Status") == "SUCCESS"
                    and operation.get("Type") == "CREATE_NAMESPACE", operation)
        self.ns = operation["Targets"]["NAMESPACE"]
        again = self.sd.create_private_dns_namespace(Name="prod.local", Vpc=vpc, CreatorRequestId="req-1")
        self.expect("a repeat answers the same operation", again["OperationId"] == op, again)
        code = self.error(self.sd.create_private_dns_namespace, Name="prod.local", Vpc=vpc, CreatorRequestId="req-2")
        self.expect("the same name again", code == "NamespaceAlreadyExists", code)
        code = self.error(self.sd.create_private_dns_namespace, Name="x.local", Vpc="vpc-0000000000000000f")
        self.expect("a VPC the region does not have", code == "InvalidInput", code)
        code = self.error(self.sd.create_private_dns_namespace, Name="bad_name!", Vpc=vpc)
        self.expect("not a DNS name", code == "InvalidInput", code)
        http_op = self.sd.create_http_namespace(Name="apps")["OperationId"]
        self.http_ns = self.sd.get_operation(OperationId=http_op)["Operation"]["Targets"]["NAMESPACE"]
        namespace = self.sd.get_namespace(Id=self.ns)["Namespace"]
        self.expect("a private DNS namespace", (namespace.get("Name"), namespace.get("Type")) == ("prod.local", "DNS_PRIVATE"), namespace)
        self.expect("its ARN", namespace.get("Arn", "").endswith(f":namespace/{self.ns}"), namespace)
        listed = self.sd.list_namespaces(Filters=[{"Name": "TYPE", "Values": ["HTTP"], "Condition": "EQ"}])["Namespaces"]
        self.expect("filtered by type", [n["Id"] for n in listed] == [self.http_ns], listed)
        named = self.sd.list_namespaces(Filters=[{"Name": "NAME", "Values": ["prod"], "Condition": "BEGINS_WITH"}])["Namespaces"]
        self.expect("filtered by name", [n["Id"] for n in named] == [self.ns], named)
        page = self.sd.list_namespaces(MaxResults=1)
        self.expect("pages", len(page["Namespaces"]) == 1 and "NextToken" in page, page)
        code = self.error(self.sd.get_namespace, Id="ns-0000000000000000")
        self.expect("no such namespace", code == "NamespaceNotFound", code)

    def services(self) -> None:
        service = self.sd.create_service(Name="web", NamespaceId=self.ns, DnsConfig={
            "RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "A", "TTL": 10}, {"Type": "SRV", "TTL": 10}]},
            HealthCheckCustomConfig={"FailureThreshold": 1})["Service"]
        self.srv = service["Id"]
        self.expect("a service", service.get("Name") == "web" and service.get("NamespaceId") == self.ns
                    and service.get("DnsConfig", {}).get("DnsRecords") == [{"Type": "A", "TTL": 10}, {"Type": "SRV", "TTL": 10}],
                    service)
        code = self.error(self.sd.create_service, Name="web", NamespaceId=self.ns, DnsConfig={
            "DnsRecords": [{"Type": "A", "TTL": 10}]})
        self.expect("the same name again", code == "ServiceAlreadyExists", code)
        code = self.error(self.sd.create_service, Name="api", NamespaceId=self.http_ns, DnsConfig={
            "DnsRecords": [{"Type": "A", "TTL": 10}]})
        self.expect("DNS records in an HTTP namespace", code == "InvalidInput", code)
        self.api = self.sd.create_service(Name="api", NamespaceId=self.http_ns)["Service"]["Id"]
        code = self.error(self.sd.create_service, Name="x", NamespaceId=self.ns, DnsConfig={
            "DnsRecords": [{"Type": "A", "TTL": 10}]}, HealthCheckConfig={"Type": "HTTP", "ResourcePath": "/"})
        self.expect("Route 53 health checks not yet", code == "InvalidInput", code)
        listed = self.sd.list_services(Filters=[{"Name": "NAMESPACE_ID", "Values": [self.ns], "Condition": "EQ"}])["Services"]
        self.expect("services of a namespace", [s["Id"] for s in listed] == [self.srv], listed)
        got = self.sd.get_service(Id=self.srv)["Service"]
        self.expect("GetService", got.get("Id") == self.srv and got.get("HealthCheckCustomConfig") is not None, got)
        code = self.error(self.sd.delete_namespace, Id=self.ns)
        self.expect("a namespace with services stays", code == "ResourceInUse", code)

    def instances(self) -> None:
        for n, (ip, port, color) in enumerate([("10.0.0.11", "8080", "blue"), ("10.0.0.12", "8081", "green")]):
            op = self.sd.register_instance(ServiceId=self.srv, InstanceId=f"task-{n}", Attributes={
                "AWS_INSTANCE_IPV4": ip, "AWS_INSTANCE_PORT": port, "color": color})["OperationId"]
            self.expect("a registration operation", self.sd.get_operation(OperationId=op)["Operation"]["Type"] == "REGISTER_INSTANCE", op)
        code = self.error(self.sd.register_instance, ServiceId=self.srv, InstanceId="task-9",
                          Attributes={"AWS_INSTANCE_IPV4": "10.0.0.19"})
        self.expect("an SRV record needs a port", code == "InvalidInput", code)
        listed = self.sd.list_instances(ServiceId=self.srv)["Instances"]
        self.expect("instances", sorted(i["Id"] for i in listed) == ["task-0", "task-1"], listed)
        got = self.sd.get_instance(ServiceId=self.srv, InstanceId="task-1")["Instance"]
        self.expect("an instance's attributes", got.get("Attributes", {}).get("color") == "green", got)
        code = self.error(self.sd.get_instance, ServiceId=self.srv, InstanceId="nope")
        self.expect("no such instance", code == "InstanceNotFound", code)
        self.sd.register_instance(ServiceId=self.api, InstanceId="api-1", Attributes={"url": "http://x"})

    def discovery(self) -> None:
        sent: list[str] = []
        self.prefixed.meta.events.register("before-send.servicediscovery.DiscoverInstances",
                                           lambda request, **_: sent.append(request.url))
        for client, how in ((self.prefixed, "through the data- host"), (self.sd, "without the host prefix")):
            found = client.discover_instances(NamespaceName="prod.local", ServiceName="web")
            ids = sorted(i["InstanceId"] for i in found["Instances"])
            self.expect(f"DiscoverInstances {how}", ids == ["task-0", "task-1"], found)
        self.expect("botocore sent it to the data- host", sent and urlparse(sent[0]).hostname.startswith("data-"), sent)
        blue = self.sd.discover_instances(NamespaceName="prod.local", ServiceName="web", QueryParameters={"color": "blue"})
        self.expect("query parameters", [i["InstanceId"] for i in blue["Instances"]] == ["task-0"], blue)
        preferred = self.sd.discover_instances(NamespaceName="prod.local", ServiceName="web",
                                               OptionalParameters={"color": "purple"})
        self.expect("optional parameters fall back to all", len(preferred["Instances"]) == 2, preferred)
        api = self.sd.discover_instances(NamespaceName="apps", ServiceName="api")
        self.expect("an HTTP namespace", [i["InstanceId"] for i in api["Instances"]] == ["api-1"], api)
        code = self.error(self.sd.discover_instances, NamespaceName="nope.local", ServiceName="web")
        self.expect("no such namespace", code == "NamespaceNotFound", code)

    def health(self) -> None:
        self.sd.update_instance_custom_health_status(ServiceId=self.srv, InstanceId="task-1", Status="UNHEALTHY")
        status = self.sd.get_instances_health_status(ServiceId=self.srv)["Status"]
        self.expect("custom health", status == {"task-0": "HEALTHY", "task-1": "UNHEALTHY"}, status)
        healthy = self.sd.discover_instances(NamespaceName="prod.local", ServiceName="web")
        self.expect("only healthy instances are discovered", [i["InstanceId"] for i in healthy["Instances"]] == ["task-0"], healthy)
        everyone = self.sd.discover_instances(NamespaceName="prod.local", ServiceName="web", HealthStatus="ALL")
        self.expect("HealthStatus ALL", len(everyone["Instances"]) == 2, everyone)
        self.expect("a revision that moves", everyone["InstancesRevision"] > 1, everyone)
        code = self.error(self.sd.update_instance_custom_health_status, ServiceId=self.api, InstanceId="api-1", Status="HEALTHY")
        self.expect("custom health of a service without it", code == "CustomHealthNotFound", code)

    def tags(self) -> None:
        arn = self.sd.get_namespace(Id=self.ns)["Namespace"]["Arn"]
        self.sd.tag_resource(ResourceARN=arn, Tags=[{"Key": "env", "Value": "test"}])
        tags = {t["Key"]: t["Value"] for t in self.sd.list_tags_for_resource(ResourceARN=arn)["Tags"]}
        self.expect("tags", tags == {"team": "web", "env": "test"}, tags)
        self.sd.untag_resource(ResourceARN=arn, TagKeys=["team"])
        tags = [t["Key"] for t in self.sd.list_tags_for_resource(ResourceARN=arn)["Tags"]]
        self.expect("untagged", tags == ["env"], tags)

    def cleanup(self) -> None:
        code = self.error(self.sd.delete_service, Id=self.srv)
        self.expect("a service with instances stays", code == "ResourceInUse", code)
        for n in range(2):
            self.sd.deregister_instance(ServiceId=self.srv, InstanceId=f"task-{n}")
        self.sd.deregister_instance(ServiceId=self.api, InstanceId="api-1")
        self.sd.delete_service(Id=self.srv)
        self.sd.delete_service(Id=self.api)
        op = self.sd.delete_namespace(Id=self.ns)["OperationId"]
        self.expect("a deletion operation", self.sd.get_operation(OperationId=op)["Operation"]["Type"] == "DELETE_NAMESPACE", op)
        self.sd.delete_namespace(Id=self.http_ns)
        left = self.sd.list_namespaces()["Namespaces"]
        self.expect("nothing left", left == [], left)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--credentials", required=True)
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()
    key = read_credentials(args.credentials)
    # botocore sends DiscoverInstances to `data-<host>`: resolve that name to the server, as a
    # DNS entry for it would.
    host = urlparse(args.endpoint).hostname
    resolve = socket.getaddrinfo
    socket.getaddrinfo = lambda name, *rest, **kw: resolve(host if name == f"data-{host}" else name, *rest, **kw)
    endpoint_by_name = args.endpoint.replace(host, "localhost") if host == "127.0.0.1" else args.endpoint
    if host == "127.0.0.1":
        host = "localhost"
    session = botocore.session.get_session()
    def client(service, endpoint, prefix=True):
        return session.create_client(service, endpoint_url=endpoint, region_name=args.region,
                                     aws_access_key_id=key[0], aws_secret_access_key=key[1],
                                     config=Config(retries={"total_max_attempts": 1}, parameter_validation=False,
                                                   inject_host_prefix=prefix))
    check = Check(client("servicediscovery", args.endpoint, prefix=False),
                  client("servicediscovery", endpoint_by_name), client("ec2", args.endpoint))
    for step in (check.namespaces, check.services, check.instances, check.discovery, check.health, check.tags, check.cleanup):
        try:
            step()
        except ClientError as error:
            check.failures.append(f"{step.__name__}: unexpected {error}")
            break
    for failure in check.failures:
        print(f"FAIL {failure}")
    print(f"Cloud Map: {len(check.failures)} failure(s)")
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
