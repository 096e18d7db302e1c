"""The frontend image's nginx config, run with Debian's nginx in front of the test services."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from devkit.process import free_port
from shared.launch.process import NotReady, wait_until_ready
from tests.stack import ROOT, ServiceProcess, base_env

NGINX = "/usr/sbin/nginx"
TEMPLATE = ROOT / "frontend" / "nginx" / "default.conf.template"
RESOLV_CONF = Path("/etc/resolv.conf")
# The image's entrypoint step that keeps the platform's DNS of resolv.conf's nameservers.
FIRST_RESOLVER_SCRIPT = ROOT / "frontend" / "nginx" / "16-first-local-resolver.envsh"


def render_template(variables: Mapping[str, str]) -> str:
    """What the image's entrypoint does: substitute the ``${VAR}`` it has values for."""
    return re.sub(r"\$\{([A-Z_]+)\}", lambda m: variables.get(m[1], m[0]), TEMPLATE.read_text())


def local_resolvers(resolv_conf: Path = RESOLV_CONF) -> str:
    """``NGINX_LOCAL_RESOLVERS`` as the image's entrypoint sets it: the nameservers of
    resolv.conf (the official 15-local-resolvers.envsh, with ``NGINX_ENTRYPOINT_LOCAL_RESOLVERS``),
    then the image's own FIRST_RESOLVER_SCRIPT, run by the shell as the entrypoint sources it."""
    nameservers = "".join(
        fields[1] + " "
        for fields in (line.split() for line in resolv_conf.read_text().splitlines())
        if len(fields) >= 2 and fields[0] == "nameserver"
    )
    narrowed = subprocess.run(
        ["sh", "-c", '. "$0"; printf %s "$NGINX_LOCAL_RESOLVERS"', FIRST_RESOLVER_SCRIPT],
        env={"NGINX_LOCAL_RESOLVERS": nameservers},
        capture_output=True,
        text=True,
        check=True,
    )
    return narrowed.stdout or "127.0.0.1"


class NginxFrontend:
    """nginx serving ``frontend/static`` with the image's server block, on a free port."""

    def __init__(self, workdir: Path, variables: Mapping[str, str]) -> None:
        self.port = free_port()
        self.workdir = workdir
        server = render_template(variables)
        server = server.replace("listen 8080;", f"listen 127.0.0.1:{self.port};")
        server = server.replace(
            "root /usr/share/nginx/html;", f"root {ROOT / 'frontend' / 'static'};"
        )
        temp = {name: workdir / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
        for path in temp.values():
            path.mkdir(parents=True, exist_ok=True)
        (workdir / "nginx.conf").write_text(
            f"""
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{}}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
{server}
}}
"""
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> NginxFrontend:
        self.process = subprocess.Popen(
            [
                NGINX,
                "-p",
                str(self.workdir),
                "-c",
                str(self.workdir / "nginx.conf"),
                "-g",
                "daemon off;",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_ready(self.url, self.process, 20, path="/healthz")
        except NotReady as exc:
            raise AssertionError(f"{exc}\n{(self.workdir / 'error.log').read_text()}") from None
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)


def start_frontend(
    kind: str, variables: Mapping[str, str], workdir: Path
) -> ServiceProcess | NginxFrontend:
    """The page's origin, started and ready: ``python-server`` (``make run``'s) or ``nginx``.

    nginx gets the image's defaults for ``JAEGER_QUERY_URL`` and ``COLLECTOR_PROMETHEUS_URL``
    when ``variables`` has none: addresses where nothing answers; and, unless ``variables``
    names one (a test's own DNS server), this machine's resolvers, as the image's entrypoint
    would find them.
    """
    if kind == "nginx":
        if not Path(NGINX).exists():
            pytest.fail(f"{NGINX} is missing: `make test` installs Debian's nginx-light")
        defaults = {
            "JAEGER_QUERY_URL": f"http://127.0.0.1:{free_port()}",
            "COLLECTOR_PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}",
            "NGINX_LOCAL_RESOLVERS": local_resolvers(),
        }
        return NginxFrontend(workdir, {**defaults, **variables}).start()
    return (
        ServiceProcess("frontend", base_env(**variables), workdir / "frontend.log")
        .start()
        .wait_ready()
    )
