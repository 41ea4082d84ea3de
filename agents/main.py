"""The module-level app that ``faust -A agents.main worker`` needs (settings from env)."""

from sellerwatch.agents.app import create_app
from sellerwatch.agents.settings import Settings

app = create_app(Settings())
