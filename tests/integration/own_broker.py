"""A throw-away Kafka broker of a test's own: behind a fault proxy, or restarted under workers.

Kafka tells clients where to connect (``advertised.listeners``), so a proxy in front of the shared
broker would see only the bootstrap connection. This broker can advertise the proxy's port on its
client listener, so *every* connection of a client that bootstraps through the proxy goes
through it; a second listener (``INTERNAL``, also inter-broker) is reached directly by the test's
own producing and reading. Without a proxy it advertises its own client port.

A restart test gets one too: restarting the shared broker late in a run means reloading every
earlier test's topics (144-163 s a restart in CI, against about 60 s on a broker that holds one
test's). It uses the jars ``deploy/local/up.sh`` fetched and a temporary data dir, and is killed at
the end.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

from tests.integration.ports import free_ports

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / "deploy" / "local"
_REPLACED = ("log.dirs", "listeners", "advertised.listeners", "controller.quorum.voters")


def kafka_libs() -> Path:
    """The Kafka jars of ``deploy/local`` (``SELLERWATCH_CACHE``, as in ``common.sh``)."""
    cache = Path(os.environ.get("SELLERWATCH_CACHE", Path.home() / ".cache" / "sellerwatch"))
    return cache / f"kafka-{os.environ.get('KAFKA_VERSION', '3.9.1')}" / "libs"


def kraft_cluster_id() -> str:
    """A random KRaft cluster id as Kafka's ``Uuid.randomUuid`` makes one: 16 random bytes in
    URL-safe base64, never starting with ``-``, which the storage tool would take for an option
    (``format -t -lZ4…`` failed one run of the fault loop: one id in 64 starts so)."""
    while True:
        cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster.startswith("-"):
            return cluster


class OwnBroker:
    """A single-node KRaft broker in ``folder``, advertising ``advertised_port`` to clients (its
    own client port when none is given)."""

    def __init__(self, folder: Path, advertised_port: int | None = None) -> None:
        """Ports chosen now; nothing runs until :meth:`start`."""
        self.folder = folder
        self.client_port, self.internal_port, self.controller_port = free_ports(3)
        self.advertised_port = self.client_port if advertised_port is None else advertised_port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """Bootstrap address of the client listener (through the proxy when there is one)."""
        return f"localhost:{self.advertised_port}"

    @property
    def direct_bootstrap(self) -> str:
        """Bootstrap address that bypasses the proxy (the internal listener)."""
        return f"localhost:{self.internal_port}"

    def _java(self) -> list[str]:
        return [
            "java",
            "-Xms128m",
            "-Xmx384m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{LOCAL / 'log4j.properties'}",
            "-cp",
            f"{kafka_libs()}/*",
        ]

    def _properties(self) -> Path:
        base = [
            line
            for line in (LOCAL / "server.properties").read_text().splitlines()
            if line.split("=", 1)[0].strip()
            not in (*_REPLACED, "listener.security.protocol.map", "inter.broker.listener.name")
        ]
        path = self.folder / "server.properties"
        path.write_text(
            "\n".join(
                [
                    *base,
                    f"log.dirs={self.folder / 'data'}",
                    f"listeners=PLAINTEXT://localhost:{self.client_port},"
                    f"INTERNAL://localhost:{self.internal_port},"
                    f"CONTROLLER://localhost:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://localhost:{self.advertised_port},"
                    f"INTERNAL://localhost:{self.internal_port}",
                    "listener.security.protocol.map="
                    "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "inter.broker.listener.name=INTERNAL",
                    f"controller.quorum.voters=1@localhost:{self.controller_port}",
                    "",
                ]
            )
        )
        return path

    def start(self, timeout: float = 120) -> OwnBroker:
        """Format the storage, start the broker, wait until it answers on both listeners."""
        if not any(kafka_libs().glob("kafka_2.13-*.jar")):
            raise RuntimeError(f"no Kafka jars in {kafka_libs()}: run deploy/local/up.sh once")
        props = self._properties()
        cluster = kraft_cluster_id()
        subprocess.run(
            [*self._java(), "kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(props)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        self._launch(props, timeout)
        return self

    def restart(self, pause: float = 2, timeout: float = 120) -> None:
        """Stop the broker as ``deploy/local/down.sh`` does (SIGTERM: a controlled shutdown),
        wait ``pause`` seconds, start it again on the same data and ports."""
        assert self.process is not None, "restart() before start()"
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        time.sleep(pause)
        self._launch(self.folder / "server.properties", timeout)

    def _launch(self, props: Path, timeout: float) -> None:
        with (self.folder / "kafka.log").open("ab") as log:
            self.process = subprocess.Popen(
                [*self._java(), "kafka.Kafka", str(props)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Kafka exited during startup: see {self.folder / 'kafka.log'}")
            ready = subprocess.run(
                ["python3", str(LOCAL / "kafka_ready.py"), str(self.internal_port)],
                capture_output=True,
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(1)
        self.stop()
        raise RuntimeError(f"Kafka not ready after {timeout:.0f}s: see {self.folder / 'kafka.log'}")

    def stop(self) -> None:
        """Kill the broker (its data is thrown away with the folder)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
