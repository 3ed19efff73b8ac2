"""What ``test_gunicorn`` serves: the real app, built from the environment, plus
two test-only routes that let the test steer a request to a chosen worker.

``INVITES_TEST_RATES`` (JSON) lowers some rates of ``invites/limits.py``, so a
test reaches a limit in a few requests; every other setting is the environment's.
"""

from __future__ import annotations

import json
import os
import time

from flask import jsonify, request

from invites import create_app

app = create_app()
app.config.update(json.loads(os.environ.get("INVITES_TEST_RATES", "{}")))


@app.get("/_test/pid")
def worker_pid():
    """Which worker answered."""
    return jsonify(pid=os.getpid())


@app.get("/_test/hold")
def hold_worker():
    """Keep worker ``pid`` busy for ``seconds``; any other worker answers 409 at once."""
    if request.args.get("pid", type=int) != os.getpid():
        return jsonify(pid=os.getpid()), 409
    time.sleep(request.args.get("seconds", 1.0, type=float))
    return jsonify(pid=os.getpid())


@app.get("/_test/where")
def where():
    """What the app believes about the request: scheme, prefix, client address, own links."""
    from invites.links import public_base

    return jsonify(
        scheme=request.scheme, scriptRoot=request.script_root, remoteAddr=request.remote_addr, publicBase=public_base()
    )
