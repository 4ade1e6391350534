"""The CloudFormation merged into `chalice package --merge-template` for one stage.

Everything comes from one source each:
- tables, keys, indexes and TTL from the PynamoDB models (`chalicelib.store.models.MODELS`,
  through PynamoDB's own `_get_schema()`, the call `create_table` uses locally);
- the Lambda functions and their roles from Chalice's own application graph (what
  `chalice package` will emit);
- IAM grants from `infra.policies`;
- the API Gateway error bodies from `infra.gateway_shim` (what the local stack answers), their
  headers from `chalicelib.api.browsers` (what every answer of the app carries) and the stage's
  CORS_ORIGINS (.chalice/config.json).

    python -m infra.template --stage dev > build/dev-merge.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from app import SCHEDULED_SWEEP_SECONDS
from chalicelib.api import browsers
from chalicelib.errors import Forbidden
from chalicelib.settings import split_list
from chalicelib.store.db import REQUEST_BUDGET_SECONDS
from chalicelib.store.models import MODELS, Product, StockPart
from infra import policies
from infra.gateway_shim import NOT_FOUND_BODY, UNAUTHORIZED_BODY

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class StageSettings:
    throttle_rate: int
    throttle_burst: int
    log_retention_days: int
    protect_data: bool  # deletion protection + Retain policies


STAGES = {
    "dev": StageSettings(
        throttle_rate=20, throttle_burst=40, log_retention_days=14, protect_data=False
    ),
    "prod": StageSettings(
        throttle_rate=200, throttle_burst=400, log_retention_days=90, protect_data=True
    ),
}


@dataclass(frozen=True)
class Function:
    name: str  # chalice name: api_handler, jwt_auth, check_low_stock, release_expired_holds
    resource: str  # CloudFormation logical id of the function
    role: str  # ... of its role
    log_group: str  # ... of its log group


# API Gateway (REST) stops waiting for a function after 29 s and answers 504 itself. A function
# of the API that runs longer keeps working (and holding its concurrency) for a client that has
# already been told it failed: the API's functions stop before that, with a margin for a cold
# start (its init runs before the handler) and clock skew.
API_GATEWAY_TIMEOUT_SECONDS = 29
API_TIMEOUT_MARGIN_SECONDS = 5
# The functions behind API Gateway, and the least each must be given: the API handler answers a
# stalled DynamoDB with 503 within REQUEST_BUDGET_SECONDS (chalicelib/store/db.py), so it must
# live longer than that; the authorizer only verifies a token (its keys: SSM, at cold start).
API_FUNCTIONS = {"api_handler": REQUEST_BUDGET_SECONDS, "jwt_auth": 1.0}
# Scheduled functions that stop starting batches after a budget (app.py). The batch under way
# at the budget's end still runs (up to 100 releases, a transaction each): the timeout leaves it
# this long, so a run ends by itself rather than being killed mid-batch (an Errors alarm).
SCHEDULED_BUDGETS = {"release_expired_holds": SCHEDULED_SWEEP_SECONDS}
LAST_BATCH_SECONDS = 15


def check_timeouts(stage: str) -> dict[str, int]:
    """Each API function's Lambda timeout (.chalice/config.json `lambda_functions`), checked to
    be above what it needs and below API Gateway's 29 s minus the margin; each budgeted
    scheduled function's, checked to cover its budget and a last batch."""
    config = chalice_config(stage)
    timeouts = {}
    for name, needs in API_FUNCTIONS.items():
        timeout = config.scope(stage, name).lambda_timeout
        ceiling = API_GATEWAY_TIMEOUT_SECONDS - API_TIMEOUT_MARGIN_SECONDS
        if timeout is None or not needs < timeout <= ceiling:
            raise SystemExit(
                f"{stage}: lambda_timeout of {name} is {timeout}: it must be above {needs} s "
                f"and at most {ceiling} s (API Gateway gives up at {API_GATEWAY_TIMEOUT_SECONDS} s)"
            )
        timeouts[name] = timeout
    for name, budget in SCHEDULED_BUDGETS.items():
        timeout = config.scope(stage, name).lambda_timeout
        needs = budget + LAST_BATCH_SECONDS
        if timeout is None or timeout < needs:
            raise SystemExit(
                f"{stage}: lambda_timeout of {name} is {timeout}: it must be at least {needs} s "
                f"(a {budget} s budget, then {LAST_BATCH_SECONDS} s for the batch under way)"
            )
        timeouts[name] = timeout
    return timeouts


def chalice_config(stage: str) -> Any:
    from chalice.cli.factory import CLIFactory

    return CLIFactory(ROOT).create_config_obj(chalice_stage_name=stage)


def functions(stage: str) -> list[Function]:
    """The Lambda functions `chalice package` emits for this stage, from Chalice's own graph."""
    from chalice.deploy import models
    from chalice.deploy.appgraph import ApplicationGraphBuilder, DependencyBuilder
    from chalice.utils import to_cfn_resource_name

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    application = ApplicationGraphBuilder().build(chalice_config(stage), stage)
    found = []
    for resource in DependencyBuilder().build_dependencies(application):
        if isinstance(resource, models.LambdaFunction):
            name = resource.resource_name
            cfn = "APIHandler" if name == "api_handler" else to_cfn_resource_name(name)
            found.append(
                Function(
                    name,
                    cfn,
                    # A managed role (autogen_policy false still names one per function).
                    to_cfn_resource_name(resource.role.resource_name),  # type: ignore[attr-defined]
                    to_cfn_resource_name(f"{name}-log-group"),
                )
            )
    return sorted(found, key=lambda f: f.name)


# --- tables ----------------------------------------------------------------------------------


def _keys(schema: list[dict[str, str]]) -> list[dict[str, str]]:
    return sorted(
        ({"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in schema),
        key=lambda k: k["KeyType"] != "HASH",
    )


def ttl_attribute(model: Any) -> str | None:
    return next(
        (
            name
            for name, attr in model.get_attributes().items()
            if type(attr).__name__ == "TTLAttribute"
        ),
        None,
    )


def table(model: Any, stage: str, prefix: str) -> dict[str, Any]:
    schema = model._get_schema()
    protect = STAGES[stage].protect_data
    definitions = {d["AttributeName"]: d["AttributeType"] for d in schema["attribute_definitions"]}
    properties: dict[str, Any] = {
        "TableName": prefix + model.logical_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": kind}
            for name, kind in sorted(definitions.items())
        ],
        "KeySchema": _keys(schema["key_schema"]),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
        "DeletionProtectionEnabled": protect,
        "Tags": [{"Key": "app", "Value": "automart"}, {"Key": "stage", "Value": stage}],
    }
    for kind, key in (
        ("global_secondary_indexes", "GlobalSecondaryIndexes"),
        ("local_secondary_indexes", "LocalSecondaryIndexes"),
    ):
        indexes = [
            {
                "IndexName": index["index_name"],
                "KeySchema": _keys(index["key_schema"]),
                "Projection": index["projection"],
            }
            for index in schema[kind]
        ]
        if indexes:
            properties[key] = indexes
    ttl = ttl_attribute(model)
    if ttl:
        properties["TimeToLiveSpecification"] = {"AttributeName": ttl, "Enabled": True}
    resource: dict[str, Any] = {"Type": "AWS::DynamoDB::Table", "Properties": properties}
    policy = "Retain" if protect else "Delete"
    resource["DeletionPolicy"] = resource["UpdateReplacePolicy"] = policy
    return resource


# --- the rest --------------------------------------------------------------------------------


def parameters(stage: str) -> dict[str, Any]:
    settings = STAGES[stage]
    return {
        "SesIdentity": {
            "Type": "String",
            "MinLength": 3,
            "Description": "Verified SES identity (domain or address) the alerts are sent from",
        },
        "AlertSender": {
            "Type": "String",
            "AllowedPattern": r"^[^@\s]+@[^@\s]+$",
            "Description": "From address of low-stock emails (an address of SesIdentity)",
        },
        "AlertRecipients": {
            "Type": "String",
            "Default": "",
            "Description": "Comma-separated recipients; empty: every active admin",
        },
        "JwtKeysParameterName": {
            "Type": "String",
            "Default": f"/automart/{stage}/jwt-keys",
            "AllowedPattern": "^/.+",
            "Description": 'SSM SecureString holding {"current": kid, "keys": {kid: secret}}',
        },
        "ApiThrottlingRateLimit": {
            "Type": "Number",
            "Default": settings.throttle_rate,
            "MinValue": 1,
            "Description": "Steady requests per second",
        },
        "ApiThrottlingBurstLimit": {
            "Type": "Number",
            "Default": settings.throttle_burst,
            "MinValue": 1,
            "Description": "Burst of requests",
        },
        "AlarmTopicArn": {
            "Type": "String",
            "Default": "",
            "Description": "SNS topic notified by the alarms (empty: alarms without actions)",
        },
    }


def cors_origins(stage: str) -> tuple[str, ...]:
    """The stage's CORS_ORIGINS, as its functions will read it."""
    return split_list(chalice_config(stage).environment_variables.get("CORS_ORIGINS", ""))


def gateway_headers(origins: tuple[str, ...]) -> dict[str, str]:
    """responseParameters of every gateway answer: the app's header rules (browsers.py) as API
    Gateway can give them, a static value or a request value, nothing conditional.

    So: HSTS (only deployed stages have a gateway) and no-store on every path (an error answer is
    never worth caching). The origin: with one listed, that origin, static (a page on any other
    origin cannot read the answer). With several, the request's Origin is echoed, since a
    gateway answer cannot test it against the list: an unlisted origin can read these answers
    too. The trade-off is accepted because they are bodies the gateway makes itself (401, 403,
    404, 429, its 4xx/5xx), the same for every caller, with nobody's data and no
    Access-Control-Allow-Credentials; every answer of the function (all the data) checks the
    list. None listed: no CORS headers."""
    headers = browsers.security_headers(no_store=True, deployed=True)
    if origins:
        headers.update(browsers.cors_headers(origins[0]))
    parameters = {f"gatewayresponse.header.{name}": f"'{value}'" for name, value in headers.items()}
    if len(origins) > 1:
        parameters["gatewayresponse.header.Access-Control-Allow-Origin"] = (
            "method.request.header.Origin"
        )
    return parameters


def gateway_responses(origins: tuple[str, ...]) -> dict[str, Any]:
    """API Gateway's own answers, in the app's error shape (same bodies as the local shim), with
    the headers every answer of the app carries (`gateway_headers`).

    They are in the OpenAPI body (x-amazon-apigateway-gateway-responses), not separate
    AWS::ApiGateway::GatewayResponse resources: the body is part of the deployment SAM creates,
    so they take effect on the first deploy; separate resources need a later redeployment.
    """
    headers = gateway_headers(origins)

    def response(status: int | None, body: bytes | str) -> dict[str, Any]:
        text = body.decode() if isinstance(body, bytes) else body
        answer: dict[str, Any] = {
            "responseTemplates": {"application/json": text},
            "responseParameters": {
                **headers,
                "gatewayresponse.header.Content-Type": "'application/json'",
            },
        }
        if status is not None:  # the DEFAULT_ ones keep each error's own status
            answer["statusCode"] = str(status)
        return answer

    forbidden = json.dumps(Forbidden().body())
    throttled = json.dumps({"code": "too_many_requests", "message": "Slow down"})
    server = json.dumps({"code": "internal_error", "message": "Something went wrong on our side"})
    # messageString is API Gateway's message already quoted for JSON.
    client_error = '{"code":"bad_request","message":$context.error.messageString}'
    return {
        "UNAUTHORIZED": response(401, UNAUTHORIZED_BODY),
        "MISSING_AUTHENTICATION_TOKEN": response(404, NOT_FOUND_BODY),
        "ACCESS_DENIED": response(403, forbidden),
        "THROTTLED": response(429, throttled),
        "DEFAULT_4XX": response(None, client_error),
        "DEFAULT_5XX": response(None, server),
    }


ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "caller": "$context.authorizer.principalId",
        "method": "$context.httpMethod",
        "path": "$context.resourcePath",
        "status": "$context.status",
        "latencyMs": "$context.responseLatency",
        "integrationStatus": "$context.integrationStatus",
        "error": "$context.error.message",
        "time": "$context.requestTime",
    },
    separators=(",", ":"),
)


def _alarm(
    description: str,
    namespace: str,
    metric: str,
    dimensions: list[dict[str, Any]],
    threshold: int,
    periods: int = 1,
) -> dict[str, Any]:
    actions = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            "Namespace": namespace,
            "MetricName": metric,
            "Dimensions": dimensions,
            "Statistic": "Sum",
            "Period": 300,
            "EvaluationPeriods": periods,
            "Threshold": threshold,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": actions,
            "OKActions": actions,
        },
    }


# What a flash sale shows first (docs/FLASH_SALES.md): transactions on the hot sku's items
# refused for conflicts, its partitions throttled, and requests whose retries ran out (503 busy).
CONFLICTS_PER_5_MINUTES = 300  # 1 a second: retried, still worth a look
BUSY_PER_5_MINUTES = 10


def flash_sale_alarms(stage: str) -> dict[str, Any]:
    alarms: dict[str, Any] = {}
    for model in (Product, StockPart):
        table = policies.table_resource_name(model.logical_name)
        dimensions = [{"Name": "TableName", "Value": {"Ref": table}}]
        alarms[f"{table}ConflictsAlarm"] = _alarm(
            f"{model.logical_name}: transactions cancelled by conflicts (a hot sku: raise its "
            "stock_shards)",
            "AWS/DynamoDB",
            "TransactionConflict",
            dimensions,
            threshold=CONFLICTS_PER_5_MINUTES,
        )
        alarms[f"{table}WriteThrottlesAlarm"] = _alarm(
            f"{model.logical_name}: writes throttled (a partition over 1,000 write units a second)",
            "AWS/DynamoDB",
            "WriteThrottleEvents",
            dimensions,
            threshold=1,
        )
    alarms["BusyAlarm"] = _alarm(
        "API answered 503 busy: DynamoDB conflicts or throttling outlasted the retries",
        "AutoMart",
        "Rejections",
        [{"Name": "code", "Value": "busy"}, {"Name": "stage", "Value": stage}],
        threshold=BUSY_PER_5_MINUTES,
    )
    return alarms


def merge_template(stage: str) -> dict[str, Any]:
    if stage not in STAGES:
        raise SystemExit(f"unknown stage {stage!r}: one of {sorted(STAGES)}")
    settings = STAGES[stage]
    check_timeouts(stage)
    config = chalice_config(stage)
    prefix = config.environment_variables["TABLE_PREFIX"]
    resources: dict[str, Any] = {}

    for model in MODELS:
        resources[policies.table_resource_name(model.logical_name)] = table(model, stage, prefix)

    environment = {
        "TABLE_PREFIX": prefix,
        "JWT_KEYS_PARAMETER": {"Ref": "JwtKeysParameterName"},
        "ALERT_SENDER": {"Ref": "AlertSender"},
        "ALERT_RECIPIENTS": {"Ref": "AlertRecipients"},
    }
    for fn in functions(stage):
        resources[fn.resource] = {"Properties": {"Environment": {"Variables": environment}}}
        # Chalice names the log group after a resource that does not exist for the API handler
        # (${ApiHandler}, the function is APIHandler): name it here, with the stage's retention.
        resources[fn.log_group] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": {"Fn::Sub": f"/aws/lambda/${{{fn.resource}}}"},
                "RetentionInDays": settings.log_retention_days,
            },
        }
        resources[f"{fn.role}Access"] = {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": f"{fn.name}-least-privilege",
                "Roles": [{"Ref": fn.role}],
                "PolicyDocument": policies.policy_document(fn.name, fn.log_group),
            },
        }
        resources[f"{fn.resource}ErrorsAlarm"] = _alarm(
            f"{fn.name}: unhandled errors",
            "AWS/Lambda",
            "Errors",
            [{"Name": "FunctionName", "Value": {"Ref": fn.resource}}],
            threshold=1,
        )
        resources[f"{fn.resource}ThrottlesAlarm"] = _alarm(
            f"{fn.name}: throttled invocations",
            "AWS/Lambda",
            "Throttles",
            [{"Name": "FunctionName", "Value": {"Ref": fn.resource}}],
            threshold=1,
        )

    resources["ApiAccessLogGroup"] = {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {
            "LogGroupName": {"Fn::Sub": f"/aws/apigateway/automart-{stage}-${{AWS::StackName}}"},
            "RetentionInDays": settings.log_retention_days,
        },
    }
    resources["ApiGatewayCloudWatchRole"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "apigateway.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "ManagedPolicyArns": [
                {
                    "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/"
                    "AmazonAPIGatewayPushToCloudWatchLogs"
                }
            ],
        },
    }
    # Access logs need the account's API Gateway CloudWatch role (one per account and region;
    # setting it again from another stack is harmless).
    resources["ApiGatewayAccount"] = {
        "Type": "AWS::ApiGateway::Account",
        "Properties": {"CloudWatchRoleArn": {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}},
    }
    resources["RestAPI"] = {
        "DependsOn": ["ApiGatewayAccount"],
        "Properties": {
            "DefinitionBody": {
                "x-amazon-apigateway-gateway-responses": gateway_responses(cors_origins(stage))
            },
            "MethodSettings": [
                {
                    "ResourcePath": "/*",
                    "HttpMethod": "*",
                    "MetricsEnabled": True,
                    "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
                    "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"},
                }
            ],
            "AccessLogSetting": {
                "DestinationArn": {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]},
                "Format": ACCESS_LOG_FORMAT,
            },
        },
    }
    resources["Api5xxAlarm"] = _alarm(
        "API answered 5xx",
        "AWS/ApiGateway",
        "5XXError",
        [
            {"Name": "ApiName", "Value": config.app_name},
            {"Name": "Stage", "Value": config.api_gateway_stage},
        ],
        threshold=5,
    )

    resources.update(flash_sale_alarms(config.environment_variables["STAGE"]))

    return {
        "Description": f"AutoMart ({stage}): API, functions, tables, alarms",
        "Parameters": parameters(stage),
        "Conditions": {
            "HasAlarmTopic": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]},
        },
        "Resources": resources,
        "Outputs": {
            "TablePrefix": {"Value": prefix},
            "AccessLogGroup": {"Value": {"Ref": "ApiAccessLogGroup"}},
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stage", required=True, choices=sorted(STAGES))
    parser.add_argument("--out", help="file to write (default: stdout)")
    args = parser.parse_args(argv)
    text = json.dumps(merge_template(args.stage), indent=2) + "\n"
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
