pytest_plugins = ["pytester"]

from tests.servers.fixtures_data import *  # noqa: F403
from tests.servers.fixtures_web import *  # noqa: F403
