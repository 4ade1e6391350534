"""DynamoDB outages reach clients as 503 with Retry-After, never 500."""


def test_dynamodb_5xx_after_botocore_retries_is_503_not_500(api, tokens):
    """A DynamoDB internal error that outlives botocore's retries: 503 with Retry-After."""
    from botocore.exceptions import ClientError

    from chalicelib.store import db

    def fail(**kwargs):
        raise ClientError(
            {
                "Error": {"Code": "InternalServerError", "Message": "boom"},
                "ResponseMetadata": {"HTTPStatusCode": 500},
            },
            "BatchGetItem",
        )

    events = db.client().meta.events  # a product is read with its stock parts: a batch
    events.register("before-call.dynamodb.BatchGetItem", fail, unique_id="fail-get")
    try:
        reply = api.call("GET", "/products/ANY", token=tokens["customer"])
    finally:
        events.unregister("before-call.dynamodb.BatchGetItem", unique_id="fail-get")
    assert reply.status == 503
    assert reply.json["code"] == "busy" and reply.headers["Retry-After"] == "1"
