"""Presigned CloudWatch ListMetrics, the way boto3 and botocore presign: a `cloudwatch` client
whose model speaks the query protocol generates the URL (`generate_presigned_url`, botocore's
SigV4QueryAuth), then the URL is fetched as is, tampered with, and after it expired.

Usage: presign_list_metrics.py --endpoint http://127.0.0.1:PORT --credentials DATA_DIR/credentials
Prints one JSON object: {"valid": [status, body], "tampered": [...], "expired": [...]}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import botocore.session
from botocore.config import Config

from check_cloudwatch_model import model_dir
from check_ecs_model import read_credentials


def fetch(url: str) -> list:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return [response.status, response.read().decode()]
    except urllib.error.HTTPError as error:
        return [error.code, error.read().decode()]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--credentials", required=True)
    args = parser.parse_args()
    key_id, secret = read_credentials(args.credentials)
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, model_dir("query"))
    client = session.create_client(
        "cloudwatch",
        region_name="us-east-1",
        endpoint_url=args.endpoint,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )
    params = {"Namespace": "AWS/ECS", "MetricName": "CPUReservation"}
    url = client.generate_presigned_url("list_metrics", Params=params, ExpiresIn=300, HttpMethod="GET")
    short = client.generate_presigned_url("list_metrics", Params=params, ExpiresIn=1, HttpMethod="GET")
    result = {
        "url": url,
        "valid": fetch(url),
        "tampered": fetch(url.replace("CPUReservation", "MemoryReservation")),
    }
    time.sleep(2.5)
    result["expired"] = fetch(short)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
