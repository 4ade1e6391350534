"""The cold-start baseline: a bare Chalice app doing one PynamoDB GetItem, nothing else.

Same table, same endpoint, same item as AutoMart's GET /products/{sku}, but no authorizer, no
settings, no validation, no blueprints: what any Chalice + PynamoDB function costs to start.
Used by benchmarks/cold_start.py only.
"""

import os

from chalice import Chalice
from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model

app = Chalice(app_name="bare")


class Product(Model):
    class Meta:
        table_name = os.environ["TABLE_PREFIX"] + "products"
        host = os.environ.get("DYNAMODB_ENDPOINT") or None
        region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")

    sku = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()


@app.route("/products/{sku}")
def get_product(sku: str) -> dict:
    product = Product.get(sku)
    return {"sku": product.sku, "name": product.name}
