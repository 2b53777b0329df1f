pytest_plugins = ["pytester"]

from tests.servers.evidence import release_evidence  # noqa: F401
from tests.servers.fixtures_batches import *  # noqa: F403
from tests.servers.fixtures_data import *  # noqa: F403
from tests.servers.fixtures_monitoring import *  # noqa: F403
from tests.servers.fixtures_web import *  # noqa: F403
from tests.servers.fixtures_workers import *  # noqa: F403
from tests.servers.kubeapi import kube_bad, kube_good  # noqa: F401
