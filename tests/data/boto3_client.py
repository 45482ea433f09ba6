"""A boto3 client of the ADS simulator: proves the simulator speaks the protocol AWS speaks.

botocore is written independently of the Rust SDK from the same service model; if it pages,
parses and raises the modeled exceptions here, the simulator is faithful to the wire protocol.

Usage: boto3_client.py ENDPOINT page PAGE_SIZE [AGENT_ID ...]
       boto3_client.py ENDPOINT error [OPERATION]
       boto3_client.py ENDPOINT start AGENT_ID
       boto3_client.py ENDPOINT sts ROLE_ARN EXTERNAL_ID
       boto3_client.py ENDPOINT pipeline
Prints one JSON document on standard output.
"""

import json
import sys

import boto3
from botocore.config import Config


def client(endpoint, service="discovery", key="AKIDTEST", secret="test-secret", token=None, region="us-west-2"):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
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


def error(ads, operation="DescribeExportTasks"):
    calls = {
        "DescribeExportTasks": lambda: ads.describe_export_tasks(maxResults=5),
        "DescribeContinuousExports": lambda: ads.describe_continuous_exports(maxResults=5),
        "DescribeImportTasks": lambda: ads.describe_import_tasks(maxResults=5),
        "DescribeAgents": lambda: ads.describe_agents(maxResults=5),
        "GetDiscoverySummary": ads.get_discovery_summary,
    }
    try:
        calls[operation]()
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


def sts(endpoint, role_arn, external_id):
    """AssumeRole with the static keys, then GetCallerIdentity and DescribeExportTasks with the
    temporary credentials; and the refusals of a wrong external id and of forged credentials."""
    base = client(endpoint, "sts")
    me = base.get_caller_identity()
    assumed = base.assume_role(RoleArn=role_arn, RoleSessionName="boto3-test", ExternalId=external_id,
                               DurationSeconds=900)
    creds = assumed["Credentials"]
    as_role = client(endpoint, "sts", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    role_identity = as_role.get_caller_identity()
    ads = client(endpoint, "discovery", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"],
                 region="eu-west-1")
    tasks = ads.describe_export_tasks(maxResults=100)["exportsInfo"]
    errors = {}
    try:
        base.assume_role(RoleArn=role_arn, RoleSessionName="boto3-test", ExternalId="wrong")
    except base.exceptions.ClientError as e:
        errors["wrong_external_id"] = [e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"],
                                       e.response["Error"]["Message"]]
    forged = client(endpoint, "discovery", creds["AccessKeyId"], creds["SecretAccessKey"], "not-the-token")
    try:
        forged.describe_export_tasks()
    except forged.exceptions.ClientError as e:
        errors["forged"] = [e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]]
    return {
        "me": {"Account": me["Account"], "Arn": me["Arn"], "UserId": me["UserId"]},
        "assumed": {
            "AccessKeyId": creds["AccessKeyId"],
            # botocore parses the ISO 8601 time into an aware datetime
            "Expiration": creds["Expiration"].timestamp(),
            "Arn": assumed["AssumedRoleUser"]["Arn"],
            "AssumedRoleId": assumed["AssumedRoleUser"]["AssumedRoleId"],
            "RequestId": assumed["ResponseMetadata"]["RequestId"],
        },
        "role_identity": {"Account": role_identity["Account"], "Arn": role_identity["Arn"],
                          "UserId": role_identity["UserId"]},
        "tasks": len(tasks),
        "errors": errors,
    }


def pipeline(ads):
    """The rest of the pipeline, paged by botocore's own paginators with small pages; a filter;
    the summary; and the modeled refusal of a maxResults above the model's 100."""
    def paged(operation, key, page_size, **kwargs):
        pages, items = 0, []
        for response in ads.get_paginator(operation).paginate(PaginationConfig={"PageSize": page_size}, **kwargs):
            pages += 1
            items.extend(response[key])
        return pages, items

    pages, exports = paged("describe_continuous_exports", "descriptions", 1)
    continuous = {
        "pages": pages,
        "exports": [{
            "exportId": e["exportId"],
            "status": e["status"],
            "statusDetail": e.get("statusDetail"),
            "s3Bucket": e["s3Bucket"],
            # botocore parses the epoch number into an aware datetime
            "startTime": e["startTime"].timestamp(),
            "dataSource": e["dataSource"],
        } for e in exports],
    }
    continuous["one"] = [e["exportId"] for e in ads.describe_continuous_exports(exportIds=["ce-1"])["descriptions"]]
    pages, tasks = paged("describe_import_tasks", "tasks", 2)
    imports = {
        "pages": pages,
        "tasks": [{
            "importTaskId": t["importTaskId"],
            "status": t["status"],
            "importRequestTime": t["importRequestTime"].timestamp(),
            "serverImportSuccess": t["serverImportSuccess"],
            "serverImportFailure": t["serverImportFailure"],
            "applicationImportSuccess": t["applicationImportSuccess"],
            "applicationImportFailure": t["applicationImportFailure"],
        } for t in tasks],
        "failed": [t["importTaskId"] for t in ads.describe_import_tasks(
            filters=[{"name": "STATUS", "values": ["IMPORT_FAILED"]}])["tasks"]],
        # "When filtering by import status, all other filter values are ignored."
        "failed_named": [t["importTaskId"] for t in ads.describe_import_tasks(
            filters=[{"name": "STATUS", "values": ["IMPORT_FAILED"]},
                     {"name": "NAME", "values": ["no such name"]}])["tasks"]],
        "by_id": [t["importTaskId"] for t in ads.describe_import_tasks(
            filters=[{"name": "IMPORT_TASK_ID", "values": ["i-1", "i-4"]}])["tasks"]],
    }
    pages, agents = paged("describe_agents", "agentsInfo", 3)
    agents = {
        "not_healthy": [a["agentId"] for a in ads.describe_agents(
            filters=[{"name": "health", "values": ["HEALTHY"], "condition": "NOT_EQUALS"}])["agentsInfo"]],
        "pages": pages,
        "agents": [{
            "agentId": a["agentId"],
            "health": a["health"],
            "agentType": a["agentType"],
            "lastHealthPingTime": a["lastHealthPingTime"],
            "hostName": a.get("hostName"),
        } for a in agents],
    }
    summary = ads.get_discovery_summary()
    summary.pop("ResponseMetadata")
    errors = {}
    for name, call in [("imports", ads.describe_import_tasks), ("continuous", ads.describe_continuous_exports)]:
        try:
            call(maxResults=101)  # botocore checks no maximum: the server must refuse it
        except ads.exceptions.InvalidParameterValueException as e:
            errors[name] = [e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]]
    return {"continuous": continuous, "imports": imports, "agents": agents, "summary": summary, "errors": errors}


def main():
    endpoint, mode = sys.argv[1], sys.argv[2]
    ads = client(endpoint)
    if mode == "page":
        result = page(ads, int(sys.argv[3]), sys.argv[4:])
    elif mode == "error":
        result = error(ads, *sys.argv[3:4])
    elif mode == "start":
        result = start(ads, sys.argv[3])
    elif mode == "pipeline":
        result = pipeline(ads)
    elif mode == "sts":
        result = sts(endpoint, sys.argv[3], sys.argv[4])
    else:
        raise SystemExit(f"unknown mode {mode}")
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
