def test_health(api):
    reply = api.call("GET", "/health")
    assert reply.status == 200 and reply.json == {"status": "ok"}


def test_product_life(api, tokens):
    admin = tokens["admin"]
    r = api.call(
        "POST", "/products", {"sku": "A-1", "name": "Anvil", "price": "19.99", "stock": 10}, admin
    )
    assert r.status == 201, r.json
    assert r.json["price"] == "19.99"
    r = api.call("GET", "/products/A-1", token=tokens["customer"])
    assert r.status == 200 and r.json["stock"] == 10
    r = api.call("PATCH", "/products/A-1", {"stock": 3}, admin)
    assert r.status == 200 and r.json["stock"] == 3, r.json
    r = api.call("GET", "/products/A-1/movements", token=tokens["staff"])
    assert [m["quantity_change"] for m in r.json["items"]] == [-7, 10]
    assert api.call("GET", "/products", token=admin).json["items"][0]["sku"] == "A-1"
    assert api.call("GET", "/products").status == 401
