"""A typical small Python web service, as Maverick deploys it: an ASGI app served by uvicorn.

GET /                 "python <APP_VERSION>"
GET /health           200 "ok" (503 with APP_UNHEALTHY=1)
GET /api/v1/status    {"version": ...}
GET /metrics          http_requests_total{status}, http_request_duration_seconds (Prometheus)

uvicorn handles SIGTERM as such servers do: it stops accepting, finishes the requests in flight,
then exits.
"""

import json
import os
import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

VERSION = os.environ.get("APP_VERSION", "dev")
UNHEALTHY = os.environ.get("APP_UNHEALTHY") == "1"

REQUESTS = Counter("http_requests", "Requests answered, by status.", ["status"])
DURATION = Histogram("http_request_duration_seconds", "Time to answer a request.")


def route(path):
    if path == "/":
        return 200, "text/plain", f"python {VERSION}\n".encode()
    if path == "/health":
        return (503, "text/plain", b"unhealthy\n") if UNHEALTHY else (200, "text/plain", b"ok\n")
    if path == "/api/v1/status":
        return 200, "application/json", json.dumps({"version": VERSION}).encode()
    if path == "/metrics":
        return 200, CONTENT_TYPE_LATEST, generate_latest()
    return 404, "text/plain", b"not found\n"


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    start = time.perf_counter()
    status, content_type, body = route(scope["path"])
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type.encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
    if scope["path"] != "/metrics":
        REQUESTS.labels(str(status)).inc()
        DURATION.observe(time.perf_counter() - start)
