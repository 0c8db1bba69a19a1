"""Gunicorn settings for the Dashboard app (local `make run` and the container).

Every value can be overridden from the environment; Cloud Run sets PORT.
"""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8050')}"
# Threaded workers: a long training keeps one thread busy, not the whole worker.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Training on big data can take minutes; the request must not be killed before.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "600"))
# Cloud Run sends SIGTERM and kills 10 s later: drain in-flight requests first.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "8"))
keepalive = 5
# Build the app once in the master (the factory "app.app:create_server()" is called
# there, before on_starting and before any fork) so workers share its memory and
# start fast; a worker that dies is forked again from it, not built anew.
preload_app = True
# Recycle workers now and then so that memory cannot creep up forever.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = 200
# No runtime control socket: nothing else talks to gunicorn.
control_socket_disable = True
# The app logs one JSON access line per request itself (with the trace and the
# request id); gunicorn's own messages go out as JSON too.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
if os.environ.get("LOG_FORMAT", "json").lower() != "text":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "app.server.logs.JsonFormatter"}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "json",
            }
        },
        "root": {"level": "INFO", "handlers": ["stdout"]},
        "loggers": {
            "gunicorn.error": {
                "handlers": ["stdout"],
                "level": "INFO",
                "propagate": False,
            },
            "gunicorn.access": {"handlers": [], "propagate": False},
        },
    }
# HTTP2=1: also accept cleartext HTTP/2 (h2c) from the proxy in front (Cloud Run
# with --use-http2), which lifts Cloud Run's 32 MiB limit on HTTP/1 request bodies.
# TLS is the proxy's job; never expose this port to the internet directly.
if os.environ.get("HTTP2", "").lower() in ("1", "true", "yes"):
    http_protocols = "h2,h1"
    http2_cleartext = "both"
    forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")
# Heartbeat files on tmpfs when available (containers), else the default.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def _jobs():
    """The app's jobs module when this server runs the app (not, e.g., a baseline)."""
    import sys

    return sys.modules.get("app.server.jobs")


def on_starting(server):
    """Start the job runner from the master, before it serves or forks workers:
    every job is then forked from one quiet, warm process, never from a worker."""
    jobs = _jobs()
    if jobs is not None:
        jobs.start(server.app.wsgi())


def post_fork(server, worker):
    """In each new worker: the MCP endpoint's session, as every worker knows it
    (see ``app.agents.after_fork``)."""
    import sys

    agents = sys.modules.get("app.agents")
    if agents is not None:
        agents.after_fork(server.app.wsgi())


def on_exit(server):
    """Stop the job runner and its jobs, so that none outlives the server."""
    jobs = _jobs()
    if jobs is not None:
        jobs.stop(server.app.wsgi())
