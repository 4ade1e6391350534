"""Least-privilege IAM for each Lambda function, written by hand (`autogen_policy: false`).

Chalice's policy generator does not see PynamoDB calls, so every permission is declared here, per
function, in the vocabulary tests/botocore_recorder.py records the test suite's calls in:

- ("dynamodb:Query", "table/users/index/by_role"): an action on one table (logical name) or index;
- ("ssm:GetParameter", "parameter"): the JWT key parameter (template parameter
  JwtKeysParameterName);
- ("kms:Decrypt", "ssm-parameter-key"): its KMS key, only through SSM, only for that parameter;
- ("ses:SendEmail", "identity"): the SES identity (template parameter SesIdentity).

tests/infra/test_operations.py checks that the calls recorded for each function are exactly these
(nothing missing, nothing unused). A new DynamoDB call in the code means a new line here.

Notes:
- IAM has no TransactWriteItems action: a transaction needs PutItem / UpdateItem / DeleteItem /
  ConditionCheckItem on each table it touches.
- `db.bind()` reads every table's key schema once per container (DescribeTable on all tables).
- Each Chalice function gets its own role (Chalice does that when `autogen_policy` is false); the
  role's inline policy is `.chalice/policy-guard.json` (explicit denies), the grants below are a
  separate AWS::IAM::Policy per role (a merge template replaces lists, so `Policies` is not
  touched).
"""

from __future__ import annotations

from typing import Any

from chalicelib.store.models import MODELS

Grant = tuple[str, str]

ALL_TABLES = tuple(model.logical_name for model in MODELS)


def _on(table: str, *actions: str, index: str | None = None) -> set[Grant]:
    resource = f"table/{table}" + (f"/index/{index}" if index else "")
    return {(f"dynamodb:{action}", resource) for action in actions}


def _bind() -> set[Grant]:
    return {("dynamodb:DescribeTable", f"table/{table}") for table in ALL_TABLES}


_SSM_KEYS: set[Grant] = {("ssm:GetParameter", "parameter"), ("kms:Decrypt", "ssm-parameter-key")}

# Resolving a low-stock episode (`episodes.close_episode`): read its state and notification,
# then one transaction checks the product is no longer low, deletes the state and resolves the
# notification. Units coming back do it (a purchase, a release of held units), and so does the
# check for episodes such a write left open.
_CLOSE_EPISODE: set[Grant] = (
    _on("alert-states", "GetItem", "DeleteItem")
    | _on("notifications", "GetItem", "UpdateItem")
    | _on("products", "ConditionCheckItem")
    # A product in stock parts: read again with its parts, and every part checked.
    | _on("products", "BatchGetItem")
    | _on("stock-parts", "BatchGetItem", "ConditionCheckItem")
)

# The low-stock check: shared by the scheduled function and POST /notifications/check.
_LOW_STOCK_CHECK: set[Grant] = (
    _CLOSE_EPISODE
    | _on("products", "Query", index="low_stock")
    | _on("products", "Query", index="by_sharding")  # the products in stock parts
    # Opening an episode: the product re-checked, its state and notification put; the digest
    # claims and marks the notifications it emails.
    | _on("products", "ConditionCheckItem")
    | _on("alert-states", "Scan", "PutItem")
    | _on("notifications", "PutItem", "UpdateItem")
    | _on("notifications", "Query", index="unemailed")
    | _on("users", "Query", index="by_role")
    | {("ses:SendEmail", "identity")}
)

# The sweep of expired holds (`holds.release_expired`): shared by the scheduled function and
# POST /holds/release-expired. The sparse `expiring` index (keys only), one BatchGetItem of the
# holds and one of their products, then a transaction per hold: its status and each product's
# `held`, or a check that a line's product is gone. A product that was low only because of the
# hold gets its episode resolved.
_RELEASE_EXPIRED_HOLDS: set[Grant] = (
    _CLOSE_EPISODE
    | _on("holds", "Query", index="expiring")
    | _on("holds", "BatchGetItem", "UpdateItem")
    | _on("products", "BatchGetItem", "UpdateItem", "ConditionCheckItem")
    | _on("stock-parts", "UpdateItem")
)

GRANTS: dict[str, set[Grant]] = {
    # The JWT authorizer only verifies signatures: it reads the key ring and nothing else.
    "jwt_auth": set(_SSM_KEYS),
    # Every route.
    "api_handler": (
        _bind()
        | _SSM_KEYS
        | _LOW_STOCK_CHECK
        | _on("users", "GetItem", "PutItem", "UpdateItem", "ConditionCheckItem")
        | _on("users", "Query", index="by_role")
        | _on("user-emails", "GetItem", "PutItem", "DeleteItem")
        | _on("refresh-tokens", "GetItem", "PutItem", "DeleteItem")
        | _on("password-resets", "GetItem", "UpdateItem")
        | _on("products", "GetItem", "PutItem", "UpdateItem", "DeleteItem")
        # The catalog's pages (`inventory.catalog`): Queries of the indexes built for them.
        | _on("products", "Query", index="by_sku")
        | _on("products", "Query", index="by_name")
        | _on("products", "Query", index="by_sku_key")
        | _on("movements", "PutItem", "Query")
        # Stock parts (`stock_shards` > 1): read with their product, changed in its
        # transactions, made and removed by a resize.
        | _on("stock-parts", "UpdateItem", "PutItem", "DeleteItem", "ConditionCheckItem")
        # Orders and purchases: one transaction each (stock, ledger, order, idempotency marker),
        # consistent batch reads of what they check.
        | _on("sales-orders", "GetItem", "PutItem", "UpdateItem")
        | _on("sales-orders", "Query", index="all_orders")
        | _on("sales-orders", "Query", index="by_customer")
        | _on("sales-orders", "Query", index="by_recorder")
        | _on("purchase-orders", "GetItem", "PutItem", "UpdateItem")
        | _on("purchase-orders", "Query", index="all_purchases")
        | _on("idempotency", "GetItem", "PutItem")
        | {
            ("dynamodb:BatchGetItem", f"table/{t}")
            for t in ("users", "products", "sales-orders", "purchase-orders", "idempotency")
        }
        # Holds: created (products' `held`, the hold, the marker) and converted (the order, its
        # movements, the hold marked converted) in one transaction each, listed newest first
        # from the index of the caller's view, released by DELETE or by the sweep.
        | _on("holds", "GetItem", "PutItem", "UpdateItem", "BatchGetItem")
        | _on("holds", "Query", index="by_status")
        | _on("holds", "Query", index="by_customer")
        | _on("holds", "Query", index="by_recorder")
        | _RELEASE_EXPIRED_HOLDS
        # Notifications: list, read, handle; episodes closed by the write that ends them.
        | _on("notifications", "GetItem")
        | _on("notifications", "Query", index="by_status")
        | _CLOSE_EPISODE
    ),
    # The scheduled low-stock check.
    "check_low_stock": _bind() | _LOW_STOCK_CHECK,
    # The scheduled sweep of expired holds.
    "release_expired_holds": _bind() | _RELEASE_EXPIRED_HOLDS,
}


# --- rendering -------------------------------------------------------------------------------


def table_resource_name(logical_name: str) -> str:
    """The CloudFormation logical id of a model's table: purchase-orders -> PurchaseOrdersTable."""
    return "".join(part.capitalize() for part in logical_name.split("-")) + "Table"


def _arn(resource: str) -> Any:
    if resource.startswith("table/"):
        table, _, index = resource[len("table/") :].partition("/index/")
        cfn = table_resource_name(table)
        if index:
            return {"Fn::Sub": f"${{{cfn}.Arn}}/index/{index}"}
        return {"Fn::GetAtt": [cfn, "Arn"]}
    if resource == "parameter":
        # Parameter names start with "/": the ARN is ...:parameter/automart/dev/jwt-keys.
        return {
            "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}"
            ":parameter${JwtKeysParameterName}"
        }
    if resource == "ssm-parameter-key":
        return {"Fn::Sub": "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"}
    if resource == "identity":
        return {
            "Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}"
            ":identity/${SesIdentity}"
        }
    raise ValueError(f"no ARN for {resource!r}")


_KMS_CONDITION = {
    "StringEquals": {
        "kms:ViaService": {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"},
        "kms:EncryptionContext:PARAMETER_ARN": _arn("parameter"),
    }
}


def statements(grants: set[Grant]) -> list[dict[str, Any]]:
    """One statement per resource, actions sorted: stable output, readable in the console."""
    by_resource: dict[str, set[str]] = {}
    for action, resource in grants:
        by_resource.setdefault(resource, set()).add(action)
    out = []
    for resource in sorted(by_resource):
        statement: dict[str, Any] = {
            "Sid": "".join(ch for ch in resource.title() if ch.isalnum()),
            "Effect": "Allow",
            "Action": sorted(by_resource[resource]),
            "Resource": _arn(resource),
        }
        if resource == "ssm-parameter-key":
            statement["Condition"] = _KMS_CONDITION
        out.append(statement)
    return out


def logs_statement(log_group_resource: str) -> dict[str, Any]:
    """Writing to the function's own log group (created by the template with a retention)."""
    return {
        "Sid": "OwnLogGroup",
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": {"Fn::GetAtt": [log_group_resource, "Arn"]},
    }


def policy_document(function: str, log_group_resource: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [logs_statement(log_group_resource), *statements(GRANTS.get(function, set()))],
    }
