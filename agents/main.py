"""The module-level app that ``faust -A agents.main worker`` needs (settings from env)."""

from agents.app import create_app
from agents.settings import Settings

app = create_app(Settings())
