"""The products a checklist item names and the catalog areas that examine one of them.

A check of an area that examines one server (``pg-10`` examines PostgreSQL) or reads one platform
(``comp-03`` reads Compose files) does not answer an item that names another and not its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

#: Servers a checklist names by product (normalised tokens -> the product): data stores, brokers, sshd.
ENGINES: Mapping[str, str] = {"postgres": "PostgreSQL", "mysql": "MySQL", "redis": "Redis", "mongodb": "MongoDB",
                              "mongo": "MongoDB", "elasticsearch": "Elasticsearch", "opensearch": "Elasticsearch",
                              "rabbitmq": "RabbitMQ", "amqp": "RabbitMQ", "kafka": "Kafka", "memcach": "Memcached",
                              "ssh": "SSH"}
#: The catalog areas whose checks examine one such server (their target is that server): an item
#: that names another, and not this one, is not theirs ("MySQL slow query log on" is not pg-10,
#: "MariaDB remote root login disabled" is not ssh-03).  A check of another area may name a store
#: as a destination or an example (host-10's "logs shipped to Elasticsearch") and is not restricted.
ENGINE_AREAS: Mapping[str, str] = {"pg": "PostgreSQL", "pgb": "PostgreSQL", "mysql": "MySQL", "redis": "Redis", "ssh": "SSH"}
#: Likewise the platform a check reads, against the one an item or its heading names: under
#: "Kubernetes" a Compose check is not meant, nor a Kubernetes check under "Docker Compose".
#: Dockerfile checks (``dock-``) serve every platform.
PLATFORMS: Mapping[str, str] = {"kubernetes": "Kubernetes", "eks": "Kubernetes", "gke": "Kubernetes", "aks": "Kubernetes",
                                "openshift": "Kubernetes", "helm": "Kubernetes", "compos": "Compose", "swarm": "Compose",
                                "docker": "Docker"}
PLATFORM_AREAS: Mapping[str, str] = {"k8s": "Kubernetes", "comp": "Compose"}


def named_in(toks: Iterable[str], names: Mapping[str, str] = ENGINES) -> frozenset[str]:
    """The products (of ``names``) that these normalised tokens name.  "Docker" alone is containers
    on either platform ("Docker: non-root user"); "Docker Compose" is Compose."""
    found = {names[t] for t in toks if t in names}
    if "Docker" in found:
        found.discard("Docker")
        if "Compose" not in found:
            found |= {"Kubernetes", "Compose"}
    return frozenset(found)


def check_engines(check_id: str, areas: Mapping[str, str] = ENGINE_AREAS) -> frozenset[str]:
    """The server (or, with ``PLATFORM_AREAS``, the platform) a check examines, by its area
    (``pg-10`` -> PostgreSQL); none for other areas."""
    area = check_id.split("-", 1)[0]
    return frozenset({areas[area]}) if area in areas else frozenset()
