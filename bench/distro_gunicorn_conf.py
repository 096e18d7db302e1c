"""The ``distro`` mode's gunicorn settings: the project's, with the tutorial's ``post_fork``.

Every setting of ``shared.launch.gunicorn_conf`` (bind, workers, threads, timeouts, logging)
is reused as is; only ``post_fork`` differs: it calls the distro's ``initialize()`` and nothing
else, as the OpenTelemetry docs show for gunicorn. No project defaults, no scenario span
processor, no ``traceresponse`` header, no dropped ``connect`` spans.
"""

from typing import Any

from shared.launch import gunicorn_conf as _project

# Gunicorn reads the settings it knows from this module's globals and ignores the rest.
globals().update(
    {
        name: value
        for name, value in vars(_project).items()
        if not name.startswith("_") and name != "post_fork"
    }
)


def post_fork(server: Any, worker: Any) -> None:
    from opentelemetry.instrumentation.auto_instrumentation import initialize

    initialize()
