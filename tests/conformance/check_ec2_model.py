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

SERVED = {"DescribeAvailabilityZones"}


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

    def unimplemented(self) -> None:
        model = self.client.meta.service_model
        for op in ["DescribeVpcs", "DescribeSubnets", "RunInstances"]:
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
    check.unimplemented()
    for failure in check.failures:
        print(f"FAIL {failure}")
    print(f"EC2: {len(check.failures)} failure(s)")
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
