"""AutoMart: the Chalice app. Routes live in blueprints; this file only wires them."""

from chalice import Chalice, Rate

from chalicelib.alerts.check import run_check
from chalicelib.api import (
    auth,
    browsers,
    console,
    holds,
    meta,
    notifications,
    products,
    purchases,
    sales,
)
from chalicelib.api.routing import ROUTES, guard
from chalicelib.inventory.holds import release_expired
from chalicelib.store import db

app = Chalice(app_name="automart")
app.register_blueprint(guard)
for resource in (
    meta.api,
    auth.api,
    products.api,
    notifications.api,
    sales.api,
    holds.api,
    purchases.api,
    console.api,
):
    app.register_blueprint(resource.blueprint)
# After the resources: the preflight views are built from the routes they declared.
app.register_blueprint(browsers.preflight(ROUTES))
app.register_middleware(browsers.add_headers, "http")

# The low-stock check's EventBridge rate. A schedule expression is fixed when `chalice package`
# imports this file (stage environment variables do not exist then), so a stage that needs
# another rate overrides it in its merge template:
# Resources.CheckLowStock.Properties.Events.CheckLowStockEvent.Properties.Schedule.
LOW_STOCK_CHECK_RATE = Rate(5, unit=Rate.MINUTES)


@app.schedule(LOW_STOCK_CHECK_RATE, name="check_low_stock")
def check_low_stock(event: object) -> dict:
    db.bind()
    return run_check()


# Expired holds give their units back within a minute (DynamoDB's TTL would take days, and would
# only delete them). A run stops starting batches after this long, well inside its Lambda timeout
# (.chalice/config.json); the next run goes on where it stopped.
EXPIRED_HOLDS_RATE = Rate(1, unit=Rate.MINUTES)
SCHEDULED_SWEEP_SECONDS = 40.0


@app.schedule(EXPIRED_HOLDS_RATE, name="release_expired_holds")
def release_expired_holds(event: object) -> dict:
    db.bind()
    return {"released": release_expired(SCHEDULED_SWEEP_SECONDS)}
