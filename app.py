"""AutoMart: the Chalice app. Routes live in blueprints; this file only wires them."""

from chalice import Chalice

from chalicelib.api import auth, meta, products
from chalicelib.api.routing import guard

app = Chalice(app_name="automart")
app.register_blueprint(guard)
for resource in (meta.api, auth.api, products.api):
    app.register_blueprint(resource.blueprint)
