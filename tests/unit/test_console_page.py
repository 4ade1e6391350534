"""/console: a static page and its assets, served by the app itself under a policy that allows
only its own origin (no inline script, nothing from elsewhere). The browser tests
(tests/browser/test_console.py) drive it; these check what is served."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlparse

from tests.unit.helpers import References

TYPES = {".css": "text/css", ".js": "text/javascript"}
IMPORT = re.compile(r'^import [^;]+ from "(\./[a-z-]+\.js)";$', re.MULTILINE)


def test_the_page_loads_only_its_own_assets_under_a_same_origin_policy(api, aws):
    page = api.call("GET", "/console")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    policy = page.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    for name in ("default-src", "script-src", "style-src", "connect-src"):
        assert directives[name] == "'self'", name  # no 'unsafe-inline', no other host
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    parser = References()
    parser.feed(page.body.decode())
    assert parser.inline_scripts == 0
    loaded = [url for url in parser.urls if not url.startswith("data:")]
    assert len(loaded) == 2  # the stylesheet and the script (which imports the library)
    # Behind a stage prefix, as in API Gateway; every module the scripts import, transitively.
    pending = [urljoin("http://api.example/api/console", url) for url in loaded]
    served: set[str] = set()
    while pending:
        url = pending.pop()
        absolute = urlparse(url)
        assert absolute.netloc == "api.example" and absolute.path.startswith("/api/console/")
        if absolute.path in served:
            continue
        served.add(absolute.path)
        reply = api.call("GET", absolute.path.removeprefix("/api"))
        assert reply.status == 200 and len(reply.body) > 500, url
        assert reply.headers["Content-Type"].startswith(TYPES[url[url.rfind(".") :]]), url
        assert reply.headers["Content-Security-Policy"] == policy
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        pending += [urljoin(url, module) for module in IMPORT.findall(reply.body.decode())]
    assert {"/api/console/api.js", "/api/console/preact-htm.js"} <= served
    assert len(served) >= 10  # the style, the frame, the client, the parts, seven screens


def test_the_client_calls_the_api_relative_to_the_page(api, aws):
    script = api.call("GET", "/console/api.js").body.decode()
    assert 'new URL("..", import.meta.url)' in script  # the same origin, any stage prefix
    assert "://" not in script
    assert "localStorage" not in script and "sessionStorage" not in script  # tokens in memory


def test_unknown_console_asset_is_404(api, aws):
    for name in ("nope.js", "..%2F..%2Fapp.py", "index.html", "__init__.py", "API.js", ".js"):
        reply = api.call("GET", f"/console/{name}")
        assert reply.status == 404 and reply.json["code"] == "not_found", name
