"""EC2 through botocore's own `ec2` protocol client: the parameters it writes (`ZoneName.1`,
`Filter.1.Name`, `DryRun`) are read as the model names them, and the XML answers it parses
hold every member a test expects (botocore ignores elements named otherwise, so a misnamed one
shows up missing). Operations not served yet must answer `InvalidAction`.

Usage: check_ec2_model.py --endpoint URL --credentials FILE --region REGION --zones a,b
Exits 0 when every check held, 1 otherwise (each failure is listed).
"""

from __future__ import annotations

import argparse
import sys

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from check_ecs_model import read_credentials

SERVED = {"DescribeAvailabilityZones", "DescribeVpcs", "DescribeSubnets", "DescribeSecurityGroups",
          "CreateSubnet", "DeleteSubnet", "CreateSecurityGroup", "DeleteSecurityGroup"}


class Check:
    def __init__(self, client, region: str, zones: list[str]):
        self.client = client
        self.region = region
        self.expected = zones
        self.failures: list[str] = []

    def expect(self, what: str, ok: bool, detail: object = "") -> None:
        if not ok:
            self.failures.append(f"{what}: {detail}")

    def error_code(self, call, **params) -> str | None:
        try:
            call(**params)
        except ClientError as error:
            return error.response["Error"]["Code"]
        return None

    def zones(self) -> None:
        described = self.client.describe_availability_zones()["AvailabilityZones"]
        names = [z.get("ZoneName") for z in described]
        self.expect("every zone of the region's agents", names == self.expected, names)
        for zone in described:
            wanted = {"ZoneName", "ZoneId", "RegionName", "State", "OptInStatus", "ZoneType",
                      "GroupName", "NetworkBorderGroup"}
            self.expect("a zone's members", wanted <= set(zone), zone)
            self.expect("the zone's region", zone.get("RegionName") == self.region, zone)
            self.expect("the zone's state", zone.get("State") == "available", zone)
        first = self.expected[0]
        only = self.client.describe_availability_zones(ZoneNames=[first])["AvailabilityZones"]
        self.expect("ZoneNames", [z["ZoneName"] for z in only] == [first], only)
        zone_id = described[0]["ZoneId"]
        by_id = self.client.describe_availability_zones(ZoneIds=[zone_id])["AvailabilityZones"]
        self.expect("ZoneIds", [z["ZoneId"] for z in by_id] == [zone_id], by_id)
        filtered = self.client.describe_availability_zones(
            Filters=[{"Name": "zone-name", "Values": self.expected[-1:]}],
            AllAvailabilityZones=True)["AvailabilityZones"]
        self.expect("Filters", [z["ZoneName"] for z in filtered] == self.expected[-1:], filtered)
        none = self.client.describe_availability_zones(
            Filters=[{"Name": "state", "Values": ["impaired"]}])["AvailabilityZones"]
        self.expect("a filter nothing matches", none == [], none)
        code = self.error_code(self.client.describe_availability_zones, DryRun=True)
        self.expect("DryRun", code == "DryRunOperation", code)
        code = self.error_code(self.client.describe_availability_zones,
                               Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
        self.expect("an unknown filter", code == "InvalidParameterValue", code)
        code = self.error_code(self.client.describe_availability_zones, ZoneNames=["nowhere-z"])
        self.expect("an unknown zone", code == "InvalidParameterValue", code)

    def network(self) -> None:
        """The default network: a VPC, a subnet per zone, the default security group."""
        vpcs = self.client.describe_vpcs()["Vpcs"]
        self.expect("one default VPC", len(vpcs) == 1 and vpcs[0].get("IsDefault") is True, vpcs)
        vpc = vpcs[0]
        vpc_id = vpc.get("VpcId", "")
        self.expect("the VPC's members", vpc_id.startswith("vpc-") and vpc.get("CidrBlock") == "10.0.0.0/16"
                    and vpc.get("State") == "available"
                    and vpc.get("CidrBlockAssociationSet", [{}])[0].get("CidrBlock") == "10.0.0.0/16", vpc)
        by_id = self.client.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
        self.expect("VpcIds", len(by_id) == 1, by_id)
        filtered = self.client.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}],
                                             MaxResults=5)["Vpcs"]
        self.expect("DescribeVpcs Filters", len(filtered) == 1, filtered)
        code = self.error_code(self.client.describe_vpcs, VpcIds=["vpc-0123456789abcdef0"])
        self.expect("an unknown VPC", code == "InvalidVpcID.NotFound", code)

        subnets = self.client.describe_subnets()["Subnets"]
        zones = sorted(s.get("AvailabilityZone") for s in subnets)
        self.expect("a default subnet per zone", zones == self.expected, subnets)
        for subnet in subnets:
            self.expect("a subnet's members", subnet.get("VpcId") == vpc_id and subnet.get("DefaultForAz") is True
                        and subnet.get("CidrBlock", "").endswith("/20")
                        and subnet.get("AvailableIpAddressCount") == 4091
                        and subnet.get("SubnetId", "").startswith("subnet-"), subnet)
        cidrs = {s.get("CidrBlock") for s in subnets}
        self.expect("slices apart", len(cidrs) == len(subnets), cidrs)
        first = self.expected[0]
        in_first = self.client.describe_subnets(Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "availability-zone", "Values": [first]},
            {"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        self.expect("DescribeSubnets Filters", [s["AvailabilityZone"] for s in in_first] == [first], in_first)
        subnet_id = subnets[0]["SubnetId"]
        self.expect("SubnetIds", len(self.client.describe_subnets(SubnetIds=[subnet_id])["Subnets"]) == 1)
        code = self.error_code(self.client.describe_subnets, SubnetIds=["subnet-0123456789abcdef0"])
        self.expect("an unknown subnet", code == "InvalidSubnetID.NotFound", code)
        code = self.error_code(self.client.describe_subnets, MaxResults=4)
        self.expect("a page too small", code == "InvalidParameterValue", code)

        groups = self.client.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
        self.expect("the default security group", len(groups) == 1 and groups[0].get("GroupName") == "default", groups)
        group = groups[0]
        inbound = group.get("IpPermissions", [{}])[0]
        self.expect("members reach each other", inbound.get("IpProtocol") == "-1"
                    and inbound.get("UserIdGroupPairs", [{}])[0].get("GroupId") == group.get("GroupId"), group)
        outbound = group.get("IpPermissionsEgress", [{}])[0]
        self.expect("anything goes out", outbound.get("IpRanges", [{}])[0].get("CidrIp") == "0.0.0.0/0", group)
        by_name = self.client.describe_security_groups(GroupNames=["default"])["SecurityGroups"]
        self.expect("GroupNames", [g["GroupId"] for g in by_name] == [group["GroupId"]], by_name)
        by_id = self.client.describe_security_groups(GroupIds=[group["GroupId"]])["SecurityGroups"]
        self.expect("GroupIds", len(by_id) == 1, by_id)
        code = self.error_code(self.client.describe_security_groups, GroupIds=["sg-0123456789abcdef0"])
        self.expect("an unknown group", code == "InvalidGroup.NotFound", code)
        for call in (self.client.describe_vpcs, self.client.describe_subnets, self.client.describe_security_groups):
            code = self.error_code(call, DryRun=True)
            self.expect(f"DryRun of {call.__name__}", code == "DryRunOperation", code)
        code = self.error_code(self.client.describe_vpcs, Filters=[{"Name": "tag:team", "Values": ["x"]}])
        self.expect("an unknown filter", code == "InvalidParameterValue", code)

    def created(self) -> None:
        """Subnets and security groups users create and delete, checked as EC2 checks them."""
        vpc_id = self.client.describe_vpcs()["Vpcs"][0]["VpcId"]
        zone = self.expected[0]
        code = self.error_code(self.client.create_subnet, VpcId=vpc_id, CidrBlock="10.0.200.0/24",
                               AvailabilityZone=zone, DryRun=True)
        self.expect("CreateSubnet DryRun", code == "DryRunOperation", code)
        made = self.client.create_subnet(
            VpcId=vpc_id, CidrBlock="10.0.200.0/24", AvailabilityZone=zone,
            TagSpecifications=[{"ResourceType": "subnet", "Tags": [{"Key": "tier", "Value": "web"}]}])["Subnet"]
        subnet_id = made.get("SubnetId", "")
        self.expect("a created subnet", subnet_id.startswith("subnet-") and made.get("DefaultForAz") is False
                    and made.get("AvailableIpAddressCount") == 251 and made.get("AvailabilityZone") == zone, made)
        listed = self.client.describe_subnets(SubnetIds=[subnet_id])["Subnets"]
        self.expect("its tags", listed and listed[0].get("Tags") == [{"Key": "tier", "Value": "web"}], listed)
        for cidr, wanted in [("10.0.200.128/25", "InvalidSubnet.Conflict"), ("192.168.0.0/24", "InvalidSubnet.Range"),
                             ("10.0.0.0/29", "InvalidSubnet.Range")]:
            code = self.error_code(self.client.create_subnet, VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone)
            self.expect(f"CreateSubnet {cidr}", code == wanted, code)
        code = self.error_code(self.client.create_subnet, VpcId=vpc_id, CidrBlock="10.0.210.0/24",
                               AvailabilityZone="nowhere-z")
        self.expect("a subnet in no zone", code == "InvalidParameterValue", code)
        code = self.error_code(self.client.create_subnet, VpcId="vpc-0123456789abcdef0", CidrBlock="10.0.210.0/24")
        self.expect("a subnet in no VPC", code == "InvalidVpcID.NotFound", code)
        code = self.error_code(self.client.create_subnet, VpcId=vpc_id, CidrBlock="10.0.210.0/24",
                               Ipv6CidrBlock="2600:1f18::/64")
        self.expect("IPv6 is refused", code == "InvalidParameterValue", code)
        self.client.delete_subnet(SubnetId=subnet_id)
        code = self.error_code(self.client.delete_subnet, SubnetId=subnet_id)
        self.expect("a deleted subnet", code == "InvalidSubnetID.NotFound", code)
        default_subnet = self.client.describe_subnets()["Subnets"][0]["SubnetId"]
        code = self.error_code(self.client.delete_subnet, SubnetId=default_subnet)
        self.expect("a default subnet stays", code == "InvalidParameterValue", code)

        group = self.client.create_security_group(
            GroupName="web", Description="web servers", VpcId=vpc_id,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": [{"Key": "tier", "Value": "web"}]}])
        group_id = group.get("GroupId", "")
        self.expect("a created group", group_id.startswith("sg-") and group.get("Tags") == [{"Key": "tier", "Value": "web"}], group)
        code = self.error_code(self.client.create_security_group, GroupName="web", Description="again")
        self.expect("a duplicate group", code == "InvalidGroup.Duplicate", code)
        described = self.client.describe_security_groups(GroupNames=["web"])["SecurityGroups"]
        self.expect("the group described", len(described) == 1 and described[0].get("GroupId") == group_id
                    and described[0].get("IpPermissions") == []
                    and described[0]["IpPermissionsEgress"][0]["IpRanges"][0]["CidrIp"] == "0.0.0.0/0", described)
        all_groups = self.client.describe_security_groups()["SecurityGroups"]
        self.expect("both groups", sorted(g["GroupName"] for g in all_groups) == ["default", "web"], all_groups)
        code = self.error_code(self.client.delete_security_group, GroupName="default")
        self.expect("the default group stays", code == "CannotDelete", code)
        deleted = self.client.delete_security_group(GroupName="web")
        self.expect("DeleteSecurityGroup", deleted.get("GroupId") == group_id and deleted.get("Return") is True, deleted)
        code = self.error_code(self.client.delete_security_group, GroupId=group_id)
        self.expect("a deleted group", code == "InvalidGroup.NotFound", code)

    def rules(self) -> None:
        """Security group rules: added, shown, refused twice, revoked by value and by id."""
        web = self.client.create_security_group(GroupName="rules-web", Description="web")["GroupId"]
        lb = self.client.create_security_group(GroupName="rules-lb", Description="lb")["GroupId"]
        added = self.client.authorize_security_group_ingress(GroupId=web, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
             "IpRanges": [{"CidrIp": "10.0.0.0/16", "Description": "vpc"}],
             "UserIdGroupPairs": [{"GroupId": lb}]}])
        ids = [r.get("SecurityGroupRuleId", "") for r in added.get("SecurityGroupRules", [])]
        self.expect("two rules with ids", len(ids) == 2 and all(i.startswith("sgr-") for i in ids), added)
        self.client.authorize_security_group_ingress(GroupName="rules-web", IpProtocol="tcp", FromPort=443,
                                                     ToPort=443, CidrIp="0.0.0.0/0")
        code = self.error_code(self.client.authorize_security_group_ingress, GroupId=web, IpProtocol="tcp",
                               FromPort=443, ToPort=443, CidrIp="0.0.0.0/0")
        self.expect("a rule twice", code == "InvalidPermission.Duplicate", code)
        code = self.error_code(self.client.authorize_security_group_ingress, GroupId=web, IpProtocol="tcp",
                               FromPort=90, ToPort=80, CidrIp="0.0.0.0/0")
        self.expect("a backwards port range", code == "InvalidParameterValue", code)
        code = self.error_code(self.client.authorize_security_group_ingress, GroupId=web, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [{"GroupId": "sg-0123456789abcdef0"}]}])
        self.expect("a rule naming no group", code == "InvalidGroup.NotFound", code)
        code = self.error_code(self.client.authorize_security_group_ingress, GroupId=web, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
        self.expect("IPv6 ranges are refused", code == "InvalidParameterValue", code)
        group = self.client.describe_security_groups(GroupIds=[web])["SecurityGroups"][0]
        by_port = {(p.get("IpProtocol"), p.get("FromPort")): p for p in group.get("IpPermissions", [])}
        http = by_port.get(("tcp", 80), {})
        self.expect("rules gathered by port", [r.get("CidrIp") for r in http.get("IpRanges", [])] == ["10.0.0.0/16"]
                    and [g.get("GroupId") for g in http.get("UserIdGroupPairs", [])] == [lb]
                    and ("tcp", 443) in by_port, group)
        code = self.error_code(self.client.delete_security_group, GroupId=lb)
        self.expect("a group other rules name", code == "DependencyViolation", code)
        egress = self.client.authorize_security_group_egress(GroupId=web, IpPermissions=[
            {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "10.0.0.2/32"}]}])
        self.expect("an egress rule", egress["SecurityGroupRules"][0].get("IsEgress") is True, egress)
        revoked = self.client.revoke_security_group_ingress(GroupId=web, SecurityGroupRuleIds=[ids[1]])
        self.expect("revoked by id", [r.get("SecurityGroupRuleId") for r in revoked.get("RevokedSecurityGroupRules", [])] == [ids[1]], revoked)
        revoked = self.client.revoke_security_group_ingress(GroupId=web, IpProtocol="tcp", FromPort=443,
                                                            ToPort=443, CidrIp="0.0.0.0/0")
        self.expect("revoked by value", len(revoked.get("RevokedSecurityGroupRules", [])) == 1, revoked)
        again = self.client.revoke_security_group_ingress(GroupId=web, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        self.expect("a rule it lacks", len(again.get("UnknownIpPermissions", [])) == 1, again)
        self.client.revoke_security_group_egress(GroupId=web, IpPermissions=[
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        group = self.client.describe_security_groups(GroupIds=[web])["SecurityGroups"][0]
        self.expect("what is left", [p.get("IpProtocol") for p in group.get("IpPermissionsEgress", [])] == ["udp"]
                    and [p.get("FromPort") for p in group.get("IpPermissions", [])] == [80], group)
        code = self.error_code(self.client.authorize_security_group_ingress, GroupId=web, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 25, "ToPort": 25,
             "IpRanges": [{"CidrIp": "10.1.0.0/16"}, {"CidrIp": "10.1.0.0/16"}]}])
        self.expect("a rule twice in one request", code == "InvalidPermission.Duplicate", code)
        code = self.error_code(self.client.revoke_security_group_ingress, GroupId=web,
                               SecurityGroupRuleIds=[ids[0]], IpProtocol="tcp", FromPort=80, ToPort=80,
                               CidrIp="10.0.0.0/16")
        self.expect("ids and permissions at once", code == "InvalidParameterCombination", code)
        self.client.authorize_security_group_ingress(GroupId=web, IpProtocol="tcp", FromPort=8443,
                                                     ToPort=8443, CidrIp="10.2.0.0/16")
        mixed = self.client.revoke_security_group_ingress(GroupId=web, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 8443, "ToPort": 8443,
             "IpRanges": [{"CidrIp": "10.2.0.0/16"}, {"CidrIp": "10.3.0.0/16"}]}])
        unknown = [r.get("CidrIp") for p in mixed.get("UnknownIpPermissions", []) for r in p.get("IpRanges", [])]
        self.expect("only what the group lacked is unknown", unknown == ["10.3.0.0/16"]
                    and len(mixed.get("RevokedSecurityGroupRules", [])) == 1, mixed)
        code = self.error_code(self.client.revoke_security_group_ingress, GroupId=web,
                               SecurityGroupRuleIds=["sgr-0123456789abcdef0"])
        self.expect("an unknown rule id", code == "InvalidSecurityGroupRuleId.NotFound", code)
        code = self.error_code(self.client.authorize_security_group_ingress, GroupId=web, IpProtocol="tcp",
                               FromPort=8080, ToPort=8080, CidrIp="10.0.0.0/8", DryRun=True)
        self.expect("Authorize DryRun", code == "DryRunOperation", code)
        self.client.revoke_security_group_ingress(GroupId=web, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": lb}]}])
        self.client.delete_security_group(GroupId=lb)
        self.client.delete_security_group(GroupId=web)

    def tags(self) -> None:
        """Tags on the VPC, subnets and groups: put, shown, described, removed."""
        vpc_id = self.client.describe_vpcs()["Vpcs"][0]["VpcId"]
        subnet_id = self.client.describe_subnets()["Subnets"][0]["SubnetId"]
        self.client.create_tags(Resources=[vpc_id, subnet_id],
                                Tags=[{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "net"}])
        vpc = self.client.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
        self.expect("the VPC's tags", sorted(t["Key"] for t in vpc.get("Tags", [])) == ["env", "team"], vpc)
        described = self.client.describe_tags(Filters=[{"Name": "resource-type", "Values": ["subnet"]}])["Tags"]
        self.expect("DescribeTags by type", [(t["ResourceId"], t["Key"]) for t in described]
                    == [(subnet_id, "env"), (subnet_id, "team")], described)
        self.client.delete_tags(Resources=[vpc_id], Tags=[{"Key": "env", "Value": "other"}])
        kept = self.client.describe_tags(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["Tags"]
        self.expect("a value that does not match stays", len(kept) == 2, kept)
        self.client.delete_tags(Resources=[vpc_id], Tags=[{"Key": "env"}])
        left = self.client.describe_tags(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["Tags"]
        self.expect("a key alone goes", [t["Key"] for t in left] == ["team"], left)
        self.client.delete_tags(Resources=[vpc_id, subnet_id])
        none = self.client.describe_tags(Filters=[{"Name": "key", "Values": ["team", "env"]}], MaxResults=5)["Tags"]
        self.expect("all of them go", none == [], none)
        code = self.error_code(self.client.create_tags, Resources=["vpc-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}])
        self.expect("tags on no VPC", code == "InvalidVpcID.NotFound", code)
        code = self.error_code(self.client.create_tags, Resources=[vpc_id], Tags=[{"Key": "aws:x", "Value": "b"}])
        self.expect("a reserved key", code == "InvalidParameterValue", code)
        code = self.error_code(self.client.create_tags, Resources=[vpc_id], Tags=[{"Key": "a", "Value": "b"}], DryRun=True)
        self.expect("CreateTags DryRun", code == "DryRunOperation", code)

    def interfaces(self) -> None:
        """No task has an interface until task networking."""
        found = self.client.describe_network_interfaces(
            Filters=[{"Name": "vpc-id", "Values": ["x"]}], MaxResults=5)["NetworkInterfaces"]
        self.expect("no interfaces yet", found == [], found)
        code = self.error_code(self.client.describe_network_interfaces, NetworkInterfaceIds=["eni-0123456789abcdef0"])
        self.expect("an unknown interface", code == "InvalidNetworkInterfaceID.NotFound", code)
        code = self.error_code(self.client.describe_network_interfaces, DryRun=True)
        self.expect("DescribeNetworkInterfaces DryRun", code == "DryRunOperation", code)

    def unimplemented(self) -> None:
        model = self.client.meta.service_model
        for op in ["CreateVpc", "AssociateRouteTable", "RunInstances"]:
            assert op in model.operation_names
            method = getattr(self.client, botocore.xform_name(op))
            code = self.error_code(method)
            self.expect(f"{op} is not served yet", code == "InvalidAction", code)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--credentials", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--zones", required=True, help="the zones of the region's agents, sorted")
    args = parser.parse_args()
    key = read_credentials(args.credentials)
    client = botocore.session.get_session().create_client(
        "ec2", endpoint_url=args.endpoint, region_name=args.region,
        aws_access_key_id=key[0], aws_secret_access_key=key[1],
        config=Config(retries={"total_max_attempts": 1}, parameter_validation=False),
    )
    check = Check(client, args.region, args.zones.split(","))
    check.zones()
    check.network()
    check.created()
    check.rules()
    check.tags()
    check.interfaces()
    check.unimplemented()
    for failure in check.failures:
        print(f"FAIL {failure}")
    print(f"EC2: {len(check.failures)} failure(s)")
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
