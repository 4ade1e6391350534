"""The packaged templates (`make package` for dev and prod): lint, tables, IAM, API, operations.

Given the template `chalice package --merge-template` produced for a stage, then ...
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from chalice import Rate
from moto import mock_aws

from app import EXPIRED_HOLDS_RATE, LOW_STOCK_CHECK_RATE, SCHEDULED_SWEEP_SECONDS
from chalicelib.alerts.digest import CLAIM_SECONDS
from chalicelib.settings import reset_settings
from chalicelib.store import db
from chalicelib.store.db import REQUEST_BUDGET_SECONDS
from chalicelib.store.models import MODELS
from infra import policies
from infra import template as generator
from infra.gateway_shim import NOT_FOUND_BODY, UNAUTHORIZED_BODY
from infra.template import STAGES as STAGE_SETTINGS
from infra.template import functions
from tests.infra.conftest import ROOT, STAGES, resources_of

PREFIX = {"dev": "automart-dev-", "prod": "automart-prod-"}
FUNCTIONS = {
    "api_handler": "APIHandler",
    "jwt_auth": "JwtAuth",
    "check_low_stock": "CheckLowStock",
    "release_expired_holds": "ReleaseExpiredHolds",
}
DATA_SERVICES = ("dynamodb", "ses", "ssm", "kms", "s3", "sqs", "sns", "secretsmanager")


def model_keys(model_or_index: Any, attributes: dict[str, Any]) -> tuple[list, dict[str, str]]:
    """[(name, HASH|RANGE)] and {name: S|N} straight from the PynamoDB attributes."""
    keys, types = [], {}
    for attr in attributes.values():
        if attr.is_hash_key or attr.is_range_key:
            keys.append((attr.attr_name, "HASH" if attr.is_hash_key else "RANGE"))
            types[attr.attr_name] = attr.attr_type
    return sorted(keys, key=lambda k: k[1]), types


def expected_table(model: Any) -> dict[str, Any]:
    keys, types = model_keys(model, model.get_attributes())
    indexes = {}
    for name, index in model._indexes.items():
        index_keys, index_types = model_keys(index, index.Meta.attributes)
        types.update(index_types)
        indexes[name] = (index_keys, index.Meta.projection.projection_type)
    ttl = [
        attr.attr_name
        for attr in model.get_attributes().values()
        if type(attr).__name__ == "TTLAttribute"
    ]
    return {"keys": keys, "types": types, "indexes": indexes, "ttl": ttl[0] if ttl else None}


def template_table(properties: dict[str, Any]) -> dict[str, Any]:
    def keys(schema: list[dict[str, str]]) -> list:
        return sorted(((k["AttributeName"], k["KeyType"]) for k in schema), key=lambda k: k[1])

    ttl = properties.get("TimeToLiveSpecification")
    return {
        "keys": keys(properties["KeySchema"]),
        "types": {
            d["AttributeName"]: d["AttributeType"] for d in properties["AttributeDefinitions"]
        },
        "indexes": {
            i["IndexName"]: (keys(i["KeySchema"]), i["Projection"]["ProjectionType"])
            for i in properties.get("GlobalSecondaryIndexes", [])
        },
        "ttl": ttl["AttributeName"] if ttl and ttl["Enabled"] else None,
    }


@pytest.mark.parametrize("stage", STAGES)
def test_cfn_lint_reports_nothing(packaged: dict[str, Path], stage: str) -> None:
    lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(lint), str(packaged[stage] / "sam.json")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("stage", STAGES)
def test_every_model_is_a_table_with_the_same_keys_indexes_and_ttl(
    templates: dict, stage: str
) -> None:
    tables = {
        r["Properties"]["TableName"]: r
        for r in resources_of(templates[stage], "AWS::DynamoDB::Table").values()
    }
    assert set(tables) == {PREFIX[stage] + m.logical_name for m in MODELS}
    for model in MODELS:
        resource = tables[PREFIX[stage] + model.logical_name]
        properties = resource["Properties"]
        assert template_table(properties) == expected_table(model), model.__name__
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }
        protected = stage == "prod"
        assert properties["DeletionProtectionEnabled"] is protected
        assert resource["DeletionPolicy"] == ("Retain" if protected else "Delete")


def test_ttl_is_on_for_refresh_tokens_and_idempotency_markers(templates: dict) -> None:
    for stage in STAGES:
        ttl = {
            r["Properties"]["TableName"]: r["Properties"].get("TimeToLiveSpecification")
            for r in resources_of(templates[stage], "AWS::DynamoDB::Table").values()
        }
        assert ttl[PREFIX[stage] + "refresh-tokens"] == {
            "AttributeName": "expires_at",
            "Enabled": True,
        }
        assert ttl[PREFIX[stage] + "idempotency"] == {
            "AttributeName": "expires_at",
            "Enabled": True,
        }


def test_the_local_stack_creates_the_same_tables_from_the_same_models(templates: dict) -> None:
    """db.create_tables() (the local stack) and the template agree on every key and index."""
    by_name = {
        r["Properties"]["TableName"].removeprefix("automart-dev-"): r["Properties"]
        for r in resources_of(templates["dev"], "AWS::DynamoDB::Table").values()
    }
    reset_settings()
    db.unbind()
    try:
        with mock_aws():
            db.create_tables()
            client = db.client()
            for model in MODELS:
                described = client.describe_table(TableName=model.Meta.table_name)["Table"]
                described["TimeToLiveSpecification"] = {
                    "AttributeName": client.describe_time_to_live(TableName=model.Meta.table_name)[
                        "TimeToLiveDescription"
                    ].get("AttributeName"),
                    "Enabled": True,
                }
                if not described["TimeToLiveSpecification"]["AttributeName"]:
                    del described["TimeToLiveSpecification"]
                assert template_table(described) == template_table(by_name[model.logical_name])
    finally:
        db.unbind()


def _statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Policy":
            out += properties["PolicyDocument"]["Statement"]
        if resource["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                out += policy["PolicyDocument"]["Statement"]
    return out


@pytest.mark.parametrize("stage", STAGES)
def test_no_data_action_is_allowed_on_every_resource(templates: dict, stage: str) -> None:
    statements = [s for s in _statements(templates[stage]) if s["Effect"] == "Allow"]
    assert statements
    for statement in statements:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        resources = (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
        for action in actions:
            assert "*" not in action, statement
            if action.split(":")[0] not in DATA_SERVICES:
                continue
            for resource in resources:
                assert resource != "*", statement
                text = json.dumps(resource)
                if "*" in text:  # only the SSM parameter's KMS key, narrowed by conditions
                    assert (
                        action == "kms:Decrypt"
                        and "kms:ViaService" in json.dumps(statement["Condition"])
                        and "PARAMETER_ARN" in json.dumps(statement["Condition"])
                    ), statement


@pytest.mark.parametrize("stage", STAGES)
def test_each_function_has_its_own_role_with_exactly_its_grants(
    templates: dict, stage: str
) -> None:
    template = templates[stage]
    found = {fn.name: fn for fn in functions(stage)}
    assert set(found) == set(FUNCTIONS) == set(policies.GRANTS)
    roles = set()
    for name, cfn in FUNCTIONS.items():
        function = template["Resources"][cfn]
        role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        roles.add(role)
        attached = [
            r
            for r in resources_of(template, "AWS::IAM::Policy").values()
            if r["Properties"]["Roles"] == [{"Ref": role}]
        ]
        assert len(attached) == 1, name
        assert attached[0]["Properties"]["PolicyDocument"] == policies.policy_document(
            name, found[name].log_group
        )
        # The role's own inline policy only denies (.chalice/policy-guard.json).
        inline = template["Resources"][role]["Properties"]["Policies"]
        assert all(s["Effect"] == "Deny" for p in inline for s in p["PolicyDocument"]["Statement"])
    assert len(roles) == len(FUNCTIONS)


@pytest.mark.parametrize("stage", STAGES)
def test_functions_get_parameters_and_own_log_groups_with_retention(
    templates: dict, stage: str
) -> None:
    template = templates[stage]
    assert {
        "SesIdentity",
        "AlertSender",
        "JwtKeysParameterName",
        "ApiThrottlingRateLimit",
        "ApiThrottlingBurstLimit",
    } <= set(template["Parameters"])
    groups = resources_of(template, "AWS::Logs::LogGroup").values()
    names = {
        json.dumps(g["Properties"]["LogGroupName"]): g["Properties"]["RetentionInDays"]
        for g in groups
    }
    for cfn in FUNCTIONS.values():
        variables = template["Resources"][cfn]["Properties"]["Environment"]["Variables"]
        assert variables["TABLE_PREFIX"] == PREFIX[stage]
        assert variables["JWT_KEYS_PARAMETER"] == {"Ref": "JwtKeysParameterName"}
        assert variables["ALERT_SENDER"] == {"Ref": "AlertSender"}
        key = json.dumps({"Fn::Sub": f"/aws/lambda/${{{cfn}}}"})
        assert names[key] == STAGE_SETTINGS[stage].log_retention_days


@pytest.mark.parametrize("stage", STAGES)
def test_api_functions_outlive_the_stall_budget_and_stop_before_api_gateway(
    templates: dict, stage: str
) -> None:
    """A stalled DynamoDB answers 503 within REQUEST_BUDGET_SECONDS, so the API's functions
    must run longer than that, and stop before API Gateway's 29 s has answered 504 for them."""
    resources = templates[stage]["Resources"]
    timeouts = {cfn: resources[cfn]["Properties"]["Timeout"] for cfn in FUNCTIONS.values()}
    assert REQUEST_BUDGET_SECONDS < timeouts["APIHandler"] < 29
    assert timeouts["JwtAuth"] < 29
    assert timeouts["CheckLowStock"] < CLAIM_SECONDS  # the digest's email claim outlives it
    # The sweep stops starting batches after its budget; the batch under way still fits.
    sweep = SCHEDULED_SWEEP_SECONDS + generator.LAST_BATCH_SECONDS
    assert timeouts["ReleaseExpiredHolds"] >= sweep


def test_a_timeout_outside_the_bounds_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generator, "API_FUNCTIONS", {"api_handler": 25.0, "jwt_auth": 1.0})
    with pytest.raises(SystemExit, match="lambda_timeout of api_handler"):
        generator.check_timeouts("dev")


def test_a_sweep_timeout_without_room_for_its_last_batch_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(generator, "SCHEDULED_BUDGETS", {"release_expired_holds": 50.0})
    with pytest.raises(SystemExit, match="lambda_timeout of release_expired_holds"):
        generator.check_timeouts("dev")


@pytest.mark.parametrize("stage", STAGES)
def test_the_api_answers_like_the_local_stack_with_throttling_and_access_logs(
    templates: dict, stage: str
) -> None:
    api = templates[stage]["Resources"]["RestAPI"]["Properties"]
    responses = api["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]
    unauthorized = responses["UNAUTHORIZED"]
    assert unauthorized["statusCode"] == "401"
    assert unauthorized["responseTemplates"]["application/json"] == UNAUTHORIZED_BODY.decode()
    missing = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert missing["statusCode"] == "404"
    assert json.loads(missing["responseTemplates"]["application/json"]) == {
        "code": "not_found",
        "message": "No such route",
    }
    assert json.loads(NOT_FOUND_BODY) == {"code": "not_found", "message": "No such route"}
    assert api["MethodSettings"][0]["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    assert api["MethodSettings"][0]["ThrottlingBurstLimit"] == {"Ref": "ApiThrottlingBurstLimit"}
    assert api["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}


# Every answer API Gateway makes itself (no function ran) and the headers each must carry.
GATEWAY_ANSWERS = (
    "UNAUTHORIZED",
    "ACCESS_DENIED",
    "MISSING_AUTHENTICATION_TOKEN",
    "THROTTLED",
    "DEFAULT_4XX",
    "DEFAULT_5XX",
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "'nosniff'",
    "Cache-Control": "'no-store'",
    "Strict-Transport-Security": "'max-age=31536000; includeSubDomains'",
}


def answer_headers(responses: dict[str, Any], name: str) -> dict[str, str]:
    parameters = responses[name]["responseParameters"]
    return {k.removeprefix("gatewayresponse.header."): v for k, v in parameters.items()}


@pytest.mark.parametrize("stage", STAGES)
def test_the_gateways_own_answers_carry_the_security_headers_and_the_stages_cors(
    templates: dict, stage: str
) -> None:
    """The stages ship with CORS_ORIGINS empty (in .chalice/config.json, for operators to set):
    no CORS headers, on the gateway's answers as on the function's."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert config["stages"][stage]["environment_variables"]["CORS_ORIGINS"] == ""
    assert "CORS_ORIGINS" not in config["stages"]["local"]["environment_variables"]
    resources = templates[stage]["Resources"]
    variables = resources["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert variables["CORS_ORIGINS"] == ""
    responses = resources["RestAPI"]["Properties"]["DefinitionBody"][
        "x-amazon-apigateway-gateway-responses"
    ]
    for name in GATEWAY_ANSWERS:
        headers = answer_headers(responses, name)
        assert SECURITY_HEADERS.items() <= headers.items(), name
        assert not [h for h in headers if h.startswith("Access-Control-")], name


@pytest.mark.parametrize(
    ("configured", "allow_origin"),
    [
        ("https://shop.example.com", "'https://shop.example.com'"),
        # Several: the gateway cannot choose among them, it echoes the request's Origin.
        ("https://shop.example.com, https://console.example.com", "method.request.header.Origin"),
        ("", None),
    ],
)
def test_the_gateways_own_answers_follow_the_stages_cors_origins(
    monkeypatch: pytest.MonkeyPatch, configured: str, allow_origin: str | None
) -> None:
    """Given CORS_ORIGINS in the stage's environment (.chalice/config.json), when the merge
    template is generated, then every gateway answer carries the origin headers (or none)."""
    from chalice.config import Config

    from_disk = Config.environment_variables.fget  # type: ignore[attr-defined]
    monkeypatch.setattr(
        Config,
        "environment_variables",
        property(lambda config: {**from_disk(config), "CORS_ORIGINS": configured}),
    )
    responses = generator.merge_template("dev")["Resources"]["RestAPI"]["Properties"][
        "DefinitionBody"
    ]["x-amazon-apigateway-gateway-responses"]
    for name in GATEWAY_ANSWERS:
        headers = answer_headers(responses, name)
        assert SECURITY_HEADERS.items() <= headers.items(), name
        assert headers["Content-Type"] == "'application/json'"
        if allow_origin is None:
            assert not [h for h in headers if h.startswith("Access-Control-")], name
            continue
        assert headers["Access-Control-Allow-Origin"] == allow_origin, name
        assert headers["Vary"] == "'Origin'"
        exposed = {
            h.strip() for h in headers["Access-Control-Expose-Headers"].strip("'").split(",")
        }
        assert "Retry-After" in exposed
        assert "Access-Control-Allow-Credentials" not in headers


@pytest.mark.parametrize("stage", STAGES)
def test_every_path_has_a_preflight_without_an_authorizer(templates: dict, stage: str) -> None:
    paths = templates[stage]["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    for path, operations in paths.items():
        assert "options" in operations, path
        assert not operations["options"].get("security"), path


@pytest.mark.parametrize("stage", STAGES)
def test_alarms_watch_api_5xx_and_each_functions_errors_and_throttles(
    templates: dict, stage: str
) -> None:
    alarms = [
        a["Properties"] for a in resources_of(templates[stage], "AWS::CloudWatch::Alarm").values()
    ]
    watched = {
        (a["Namespace"], a["MetricName"], json.dumps(a["Dimensions"][0]["Value"])) for a in alarms
    }
    assert ("AWS/ApiGateway", "5XXError", '"automart"') in watched
    for cfn in FUNCTIONS.values():
        for metric in ("Errors", "Throttles"):
            assert ("AWS/Lambda", metric, json.dumps({"Ref": cfn})) in watched


@pytest.mark.parametrize("stage", STAGES)
def test_alarms_watch_what_a_flash_sale_shows(templates: dict, stage: str) -> None:
    """Conflicts and write throttling on the stock's tables, and 503 busy from the app."""
    alarms = [
        a["Properties"] for a in resources_of(templates[stage], "AWS::CloudWatch::Alarm").values()
    ]
    watched = {(a["Namespace"], a["MetricName"], json.dumps(a["Dimensions"])) for a in alarms}
    for table in ("ProductsTable", "StockPartsTable"):
        dimensions = json.dumps([{"Name": "TableName", "Value": {"Ref": table}}])
        assert ("AWS/DynamoDB", "TransactionConflict", dimensions) in watched
        assert ("AWS/DynamoDB", "WriteThrottleEvents", dimensions) in watched
    busy = json.dumps([{"Name": "code", "Value": "busy"}, {"Name": "stage", "Value": stage}])
    assert ("AutoMart", "Rejections", busy) in watched


@pytest.mark.parametrize(
    ("function", "rate"),
    [("CheckLowStock", LOW_STOCK_CHECK_RATE), ("ReleaseExpiredHolds", EXPIRED_HOLDS_RATE)],
)
def test_the_schedules_come_from_the_app(templates: dict, function: str, rate: Rate) -> None:
    events = templates["dev"]["Resources"][function]["Properties"]["Events"]
    assert [(e["Type"], e["Properties"]["Schedule"]) for e in events.values()] == [
        ("Schedule", rate.to_string())
    ]


def test_the_holds_table_has_its_lists_and_the_sparse_expiry_index(templates: dict) -> None:
    """The sweep reads only active holds, by expiry; the lists read one index per view."""
    properties = templates["dev"]["Resources"]["HoldsTable"]["Properties"]
    assert properties["TableName"] == "automart-dev-holds"
    indexes = {i["IndexName"]: i for i in properties["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"by_status", "by_customer", "by_recorder", "expiring"}
    expiring = indexes["expiring"]
    assert expiring["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert [k["AttributeName"] for k in expiring["KeySchema"]] == ["expiry_shard", "expires_ms"]


def test_the_bundle_leaves_out_what_the_lambda_runtime_provides(packaged: dict[str, Path]) -> None:
    for stage, folder in packaged.items():
        sizes = json.loads((folder / "package-size.json").read_text())
        with zipfile.ZipFile(folder / "deployment.zip") as bundle:
            tops = {name.split("/")[0] for name in bundle.namelist()}
        assert not {"botocore", "boto3", "jmespath", "urllib3", "dateutil"} & tops
        assert {"app.py", "chalicelib", "pynamodb", "pydantic", "jwt"} <= tops
        assert sizes["zip_bytes_after"] < 10_000_000 < sizes["zip_bytes_before"], stage
    assert os.path.exists(ROOT / "build" / "dev-merge.json")


def test_the_bundle_carries_the_console_and_its_library(packaged: dict[str, Path]) -> None:
    """The console is served by the function itself: every file of it is in the zip (the library
    too, copied from npm by the build step), so a stage needs nothing from elsewhere."""
    shipped = sorted(p.name for p in (ROOT / "chalicelib" / "console").iterdir() if p.is_file())
    assert "preact-htm.js" in shipped and "index.html" in shipped
    for stage, folder in packaged.items():
        with zipfile.ZipFile(folder / "deployment.zip") as bundle:
            names = {n.removeprefix("chalicelib/console/") for n in bundle.namelist()}
        assert set(shipped) <= names, stage
