"""A boto3 client of the ADS simulator: proves the simulator speaks the protocol AWS speaks.

botocore is written independently of the Rust SDK from the same service model; if it pages,
parses and raises the modeled exceptions here, the simulator is faithful to the wire protocol.

Usage: boto3_client.py ENDPOINT page PAGE_SIZE [AGENT_ID ...]
       boto3_client.py ENDPOINT error
       boto3_client.py ENDPOINT start AGENT_ID
Prints one JSON document on standard output.
"""

import json
import sys

import boto3
from botocore.config import Config


def client(endpoint):
    return boto3.client(
        "discovery",
        endpoint_url=endpoint,
        region_name="us-west-2",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="test-secret",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=10),
    )


def page(ads, page_size, agents):
    kwargs = {}
    if agents:
        kwargs["filters"] = [{"name": "agentIds", "values": agents, "condition": "EQUALS"}]
    paginator = ads.get_paginator("describe_export_tasks")
    pages = 0
    tasks = []
    for response in paginator.paginate(PaginationConfig={"PageSize": page_size}, **kwargs):
        pages += 1
        for info in response["exportsInfo"]:
            tasks.append({
                "exportId": info["exportId"],
                "exportStatus": info["exportStatus"],
                "statusMessage": info["statusMessage"],
                # botocore parses the epoch number into an aware datetime
                "exportRequestTime": info["exportRequestTime"].timestamp(),
                "isTruncated": info.get("isTruncated", False),
                "hasDownloadUrl": "configurationsDownloadUrl" in info,
            })
    return {"pages": pages, "tasks": tasks}


def error(ads):
    try:
        ads.describe_export_tasks(maxResults=5)
    except ads.exceptions.ClientError as e:
        modeled = [name for name in dir(ads.exceptions) if name.endswith("Exception")
                   and isinstance(e, getattr(ads.exceptions, name))]
        return {
            "code": e.response["Error"]["Code"],
            "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
            "modeled": modeled,
            "message": e.response["Error"].get("Message", ""),
        }
    return {"code": None}


def start(ads, agent):
    response = ads.start_export_task(
        exportDataFormat=["CSV"],
        filters=[{"name": "agentIds", "values": [agent], "condition": "EQUALS"}],
        startTime=1_700_000_000,
        endTime=1_700_003_600,
    )
    described = ads.describe_export_tasks(exportIds=[response["exportId"]])["exportsInfo"]
    return {
        "exportId": response["exportId"],
        "status": described[0]["exportStatus"],
        "requestedStartTime": described[0]["requestedStartTime"].timestamp(),
    }


def main():
    endpoint, mode = sys.argv[1], sys.argv[2]
    ads = client(endpoint)
    if mode == "page":
        result = page(ads, int(sys.argv[3]), sys.argv[4:])
    elif mode == "error":
        result = error(ads)
    elif mode == "start":
        result = start(ads, sys.argv[3])
    else:
        raise SystemExit(f"unknown mode {mode}")
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
