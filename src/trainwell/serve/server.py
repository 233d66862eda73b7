"""``trainwell serve``: build the service and run it under uvicorn."""

from __future__ import annotations

import sys

from trainwell.serve.service import ServeOptions, Service


def serve(options: ServeOptions, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``options.run_dir``'s model at http://host:port until interrupted.

    Raises:
        RunError: the run (or candidate) cannot be served; ConfigError: bad options.
    """
    import uvicorn

    from trainwell.serve.app import build_app

    service = Service(options)
    app = build_app(service)
    print(
        f"serving {service.control.run} (model sha256 {service.control.sha256[:12]}, "
        f"{service.mode}) at http://{host}:{port}; docs at /docs, live page at /",
        file=sys.stderr,
    )
    # Keep-alive longer than clients keep idle connections (httpx: 5 s, as uvicorn's default):
    # with equal timeouts the server may close a connection just as a client reuses it, and
    # that request is dropped (seen under overload, where answers take seconds).
    uvicorn.run(
        app, host=host, port=port, log_level="warning", access_log=False, timeout_keep_alive=30
    )
