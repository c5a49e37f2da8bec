"""ACM through botocore's own client: certificates made here with openssl, imported (and
re-imported), described, listed with ACM's default filter and its options, fetched, tagged, and
deleted — not while an HTTPS listener of a load balancer presents one.

Usage: check_acm_model.py --endpoint URL --credentials FILE --region REGION
Exits 0 when every check held, 1 otherwise (each failure is listed).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from check_ecs_model import read_credentials


def make_certificate(directory: str, name: str, key: str = "rsa:2048", days: int = 30) -> tuple[bytes, bytes]:
    """A self-signed certificate for `name` and its key, PEM."""
    cert, private = os.path.join(directory, f"{name}.crt"), os.path.join(directory, f"{name}.key")
    command = ["openssl", "req", "-x509", "-nodes", "-days", str(days), "-subj", f"/CN={name}",
               "-addext", f"subjectAltName=DNS:{name}", "-keyout", private, "-out", cert]
    if key.startswith("ec:"):
        command[3:3] = ["-newkey", "ec", "-pkeyopt", f"ec_paramgen_curve:{key[3:]}"]
    else:
        command[3:3] = ["-newkey", key]
    subprocess.run(command, check=True, capture_output=True)
    with open(cert, "rb") as c, open(private, "rb") as k:
        return c.read(), k.read()


class Check:
    def __init__(self, acm, elb, ec2, directory: str):
        self.acm, self.elb, self.ec2 = acm, elb, ec2
        self.dir = directory
        self.failures: list[str] = []

    def expect(self, what: str, ok: bool, detail: object = "") -> None:
        if not ok:
            self.failures.append(f"{what}: {detail}")

    def error(self, call, **params) -> tuple[str | None, str]:
        try:
            call(**params)
        except ClientError as error:
            return error.response["Error"]["Code"], error.response["Error"].get("Message", "")
        return None, ""

    def import_and_describe(self) -> None:
        cert, key = make_certificate(self.dir, "one.example.test")
        self.cert, self.key = cert, key
        self.arn = self.acm.import_certificate(Certificate=cert, PrivateKey=key,
                                               Tags=[{"Key": "team", "Value": "web"}])["CertificateArn"]
        self.expect("an ACM ARN", ":acm:" in self.arn and ":certificate/" in self.arn, self.arn)
        detail = self.acm.describe_certificate(CertificateArn=self.arn)["Certificate"]
        wanted = {"DomainName": "one.example.test", "Type": "IMPORTED", "Status": "ISSUED",
                  "KeyAlgorithm": "RSA_2048", "SignatureAlgorithm": "SHA256WITHRSA",
                  "SubjectAlternativeNames": ["one.example.test"], "InUseBy": []}
        for member, value in wanted.items():
            self.expect(f"DescribeCertificate {member}", detail.get(member) == value, detail)
        self.expect("validity", detail["NotAfter"] > detail["NotBefore"], detail)
        got = self.acm.get_certificate(CertificateArn=self.arn)
        self.expect("GetCertificate gives the PEM back", got["Certificate"].strip() == cert.decode().strip(), got)
        # Re-import: the same ARN, the new certificate.
        cert2, key2 = make_certificate(self.dir, "two.example.test")
        again = self.acm.import_certificate(CertificateArn=self.arn, Certificate=cert2, PrivateKey=key2)
        self.expect("a re-import keeps the ARN", again["CertificateArn"] == self.arn, again)
        detail = self.acm.describe_certificate(CertificateArn=self.arn)["Certificate"]
        self.expect("a re-import replaces the certificate", detail["DomainName"] == "two.example.test", detail)
        _, other_key = make_certificate(self.dir, "three.example.test")
        code, message = self.error(self.acm.import_certificate, Certificate=cert, PrivateKey=other_key)
        self.expect("a key that does not match", code == "InvalidParameterException" and "does not match" in message,
                    (code, message))
        code, _ = self.error(self.acm.import_certificate, Certificate=b"not a certificate", PrivateKey=key)
        self.expect("not a certificate", code == "InvalidParameterException", code)
        code, _ = self.error(self.acm.describe_certificate, CertificateArn="arn:aws:acm:x")
        self.expect("a malformed ARN", code == "InvalidArnException", code)
        code, _ = self.error(self.acm.describe_certificate, CertificateArn=self.arn[:-4] + "0000")
        self.expect("no such certificate", code == "ResourceNotFoundException", code)
        code, _ = self.error(self.acm.import_certificate, CertificateArn=self.arn[:-4] + "0000",
                             Certificate=cert, PrivateKey=key)
        self.expect("re-importing what is not there", code == "ResourceNotFoundException", code)

    def listing(self) -> None:
        ec_cert, ec_key = make_certificate(self.dir, "ec.example.test", key="ec:prime256v1")
        self.ec_arn = self.acm.import_certificate(Certificate=ec_cert, PrivateKey=ec_key)["CertificateArn"]
        default = [c["CertificateArn"] for c in self.acm.list_certificates()["CertificateSummaryList"]]
        self.expect("the default filter lists RSA certificates only", default == [self.arn], default)
        both = self.acm.list_certificates(Includes={"keyTypes": ["RSA_2048", "EC_prime256v1"]})
        arns = [c["CertificateArn"] for c in both["CertificateSummaryList"]]
        self.expect("keyTypes", sorted(arns) == sorted([self.arn, self.ec_arn]), arns)
        page = self.acm.list_certificates(Includes={"keyTypes": ["RSA_2048", "EC_prime256v1"]}, MaxItems=1,
                                          SortBy="CREATED_AT", SortOrder="DESCENDING")
        self.expect("pages, newest first", [c["CertificateArn"] for c in page["CertificateSummaryList"]] == [self.ec_arn]
                    and "NextToken" in page, page)
        rest = self.acm.list_certificates(Includes={"keyTypes": ["RSA_2048", "EC_prime256v1"]}, MaxItems=1,
                                          SortBy="CREATED_AT", SortOrder="DESCENDING", NextToken=page["NextToken"])
        self.expect("the next page", [c["CertificateArn"] for c in rest["CertificateSummaryList"]] == [self.arn], rest)
        expired = self.acm.list_certificates(CertificateStatuses=["EXPIRED"])["CertificateSummaryList"]
        self.expect("statuses", expired == [], expired)
        code, message = self.error(self.acm.list_certificates, Includes={"keyUsage": ["DIGITAL_SIGNATURE"]})
        self.expect("other filters not yet", "not supported yet" in message, (code, message))

    def tags(self) -> None:
        self.acm.add_tags_to_certificate(CertificateArn=self.arn, Tags=[{"Key": "env", "Value": "test"}])
        tags = {t["Key"]: t.get("Value") for t in self.acm.list_tags_for_certificate(CertificateArn=self.arn)["Tags"]}
        self.expect("tags", tags == {"team": "web", "env": "test"}, tags)
        self.acm.remove_tags_from_certificate(CertificateArn=self.arn, Tags=[{"Key": "team", "Value": "other"}])
        kept = [t["Key"] for t in self.acm.list_tags_for_certificate(CertificateArn=self.arn)["Tags"]]
        self.expect("a tag named with another value stays", sorted(kept) == ["env", "team"], kept)
        self.acm.remove_tags_from_certificate(CertificateArn=self.arn, Tags=[{"Key": "team"}])
        kept = [t["Key"] for t in self.acm.list_tags_for_certificate(CertificateArn=self.arn)["Tags"]]
        self.expect("a tag removed", kept == ["env"], kept)
        code, _ = self.error(self.acm.add_tags_to_certificate, CertificateArn=self.arn, Tags=[{"Key": "aws:x", "Value": "1"}])
        self.expect("an aws: key", code == "InvalidTagException", code)

    def deletion(self) -> None:
        subnet = self.ec2.describe_subnets()["Subnets"][0]
        lb = self.elb.create_load_balancer(Name="acm-user", Subnets=[subnet["SubnetId"]])["LoadBalancers"][0]
        listener = self.elb.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTPS", Port=8443, Certificates=[{"CertificateArn": self.arn}],
            DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}])["Listeners"][0]
        self.expect("the listener names the certificate and ELB's default policy",
                    listener.get("Certificates") == [{"CertificateArn": self.arn}]
                    and listener.get("SslPolicy") == "ELBSecurityPolicy-TLS13-1-2-2021-06", listener)
        detail = self.acm.describe_certificate(CertificateArn=self.arn)["Certificate"]
        self.expect("InUseBy names the load balancer", detail.get("InUseBy") == [lb["LoadBalancerArn"]], detail)
        code, _ = self.error(self.acm.delete_certificate, CertificateArn=self.arn)
        self.expect("a certificate in use stays", code == "ResourceInUseException", code)
        self.elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
        self.acm.delete_certificate(CertificateArn=self.arn)
        code, _ = self.error(self.acm.get_certificate, CertificateArn=self.arn)
        self.expect("deleted", code == "ResourceNotFoundException", code)
        self.acm.delete_certificate(CertificateArn=self.ec_arn)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--credentials", required=True)
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()
    key = read_credentials(args.credentials)
    session = botocore.session.get_session()
    acm, elb, ec2 = (session.create_client(
        service, endpoint_url=args.endpoint, region_name=args.region,
        aws_access_key_id=key[0], aws_secret_access_key=key[1],
        config=Config(retries={"total_max_attempts": 1}, parameter_validation=False),
    ) for service in ("acm", "elbv2", "ec2"))
    with tempfile.TemporaryDirectory() as directory:
        check = Check(acm, elb, ec2, directory)
        for step in (check.import_and_describe, check.listing, check.tags, check.deletion):
            try:
                step()
            except ClientError as error:
                check.failures.append(f"{step.__name__}: unexpected {error}")
                break
    for failure in check.failures:
        print(f"FAIL {failure}")
    print(f"ACM: {len(check.failures)} failure(s)")
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
