"""Log shippers on a host: which are running, what they read and where they send it.

``running(processes)`` finds the shipper processes (rsyslogd, Filebeat, Fluent Bit, Vector,
Promtail, systemd-journal-upload, and shippers whose configuration is not read here: Fluentd,
Logstash, the Datadog and OpenTelemetry agents, ...) and the configuration file each was started
with.  ``parse(shipper, files)`` reads that configuration (and what it includes) into a
``Shipping``: the files it tails, whether it reads the system log (journald or the syslog
socket), and its outputs, network destinations apart from local ones (a file, stdout).

Pure functions of text: the check reads the files on the host and hands them over.
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from pytest_deploycheck.targets.base import strip_userinfo


@dataclass(frozen=True)
class Spec:
    """A shipper deploycheck knows: its name, the process names it runs as, how its configuration
    file is given on the command line, and where it is by default."""

    name: str
    commands: tuple[str, ...]
    flags: tuple[str, ...] = ()
    defaults: tuple[str, ...] = ()
    read: bool = True  # False: recognised, but its configuration is not read here


SPECS: tuple[Spec, ...] = (
    Spec("rsyslog", ("rsyslogd",), ("-f",), ("/etc/rsyslog.conf",)),
    Spec("Filebeat", ("filebeat",), ("-c", "--c"), ("/etc/filebeat/filebeat.yml",)),
    Spec("Fluent Bit", ("fluent-bit", "td-agent-bit", "flb-pipeline"), ("-c", "--config"),
         ("/etc/fluent-bit/fluent-bit.conf", "/etc/fluent-bit/fluent-bit.yaml", "/etc/td-agent-bit/td-agent-bit.conf")),
    Spec("Vector", ("vector",), ("-c", "--config", "--config-yaml", "--config-toml"), ("/etc/vector/vector.yaml", "/etc/vector/vector.toml")),
    Spec("Promtail", ("promtail",), ("-config.file", "--config.file"), ("/etc/promtail/config.yml",)),
    Spec("systemd-journal-upload", ("systemd-journal-upload",), (), ("/etc/systemd/journal-upload.conf",)),
    Spec("Fluentd", ("fluentd", "td-agent"), read=False),
    Spec("Logstash", ("logstash",), read=False),
    Spec("syslog-ng", ("syslog-ng",), read=False),
    Spec("OpenTelemetry Collector", ("otelcol", "otelcol-contrib", "otelcol-k8s"), read=False),
    Spec("Grafana Agent", ("grafana-agent", "alloy"), read=False),
    Spec("Datadog Agent", ("datadog-agent",), read=False),
    Spec("Splunk forwarder", ("splunkd",), read=False),
    Spec("Elastic Agent", ("elastic-agent",), read=False),
    Spec("CloudWatch agent", ("amazon-cloudwatch-agent",), read=False),
    Spec("NXLog", ("nxlog",), read=False),
)
NAMES = ", ".join(spec.name for spec in SPECS)


@dataclass(frozen=True)
class Running:
    """A shipper process and the configuration file it reads (None for the unread ones)."""

    spec: Spec
    pid: int
    config: str | None
    url: str | None = None  # systemd-journal-upload --url=


@dataclass
class Shipping:
    """What one shipper's configuration says."""

    files: list[str] = field(default_factory=list)  # globs of the files it tails
    system_log: bool = False  # reads the journal or the syslog socket
    outputs: list[str] = field(default_factory=list)  # network destinations, without credentials
    local: list[str] = field(default_factory=list)  # outputs that stay on the host (a file, stdout)
    problems: list[str] = field(default_factory=list)  # what could not be read


def _dest(destination: str) -> str:
    """A destination as evidence shows it: a URL's user and password dropped (``https://u:pw@loki`` ->
    ``https://u@loki``), so no shipper's login reaches a report."""
    return strip_userinfo(destination)


def running(processes: Sequence[Any]) -> list[Running]:
    """The shipper processes among ``processes`` (``host_facts.Process``), one per process;
    workers and helpers of the same shipper started with the same arguments count once."""
    found: dict[tuple[str, str | None], Running] = {}
    for process in processes:
        argv = _split(process.args)
        name = posixpath.basename(argv[0]) if argv else process.comm
        if "org.logstash.Logstash" in process.args:
            name = "logstash"
        elif name == "agent" and "datadog" in process.args:
            name = "datadog-agent"
        spec = next((s for s in SPECS if name in s.commands or process.comm in s.commands), None)
        if spec is None:
            continue
        config = _flag(argv, spec.flags) if spec.flags else None
        url = _flag(argv, ("--url",)) if spec.name == "systemd-journal-upload" else None
        key = (spec.name, config)
        found.setdefault(key, Running(spec, process.pid, config, url))
    return list(found.values())


def _split(args: str) -> list[str]:
    try:
        return shlex.split(args)
    except ValueError:
        return args.split()


def _flag(argv: Sequence[str], flags: Sequence[str]) -> str | None:
    for n, arg in enumerate(argv):
        for flag in flags:
            if arg == flag and n + 1 < len(argv):
                return argv[n + 1]
            if arg.startswith(flag + "="):
                return arg[len(flag) + 1:]
    return None


def reads(pattern: str, folder: str) -> bool:
    """Whether a shipper's file glob tails files directly in ``folder`` (``/srv/app/log/*.log``,
    ``/srv/app/log/**/*.log`` and ``/srv/app/*/*.log`` read ``/srv/app/log``)."""
    folder = posixpath.normpath(folder)
    directory = posixpath.normpath(posixpath.dirname(pattern))
    while directory.endswith("/**"):
        if fnmatch.fnmatchcase(folder, directory[:-3]) or folder.startswith(directory[:-3].rstrip("/") + "/"):
            return True
        directory = directory[:-3]
    return fnmatch.fnmatchcase(folder, directory)


# --------------------------------------------------------------------------- rsyslog

_RS_CALL = re.compile(r"\b(input|action|module|include)\s*\(([^()]*)\)", re.I | re.S)
_RS_PARAM = re.compile(r"""([A-Za-z.]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([^\s")]+))""")
_RS_LEGACY_FORWARD = re.compile(r"^\s*[^\s#$]+\s+(@@?)(?:\([^)]*\))?([\w.\-]+|\[[0-9a-fA-F:.]+\])(?::(\d+))?", re.M)
_REMOTE_ACTIONS = {"omfwd": ("target", "port"), "omrelp": ("target", "port"), "omelasticsearch": ("server", "serverport"),
                   "omhttp": ("server", "serverport"), "omkafka": ("broker", None), "omudpspoof": ("target", "port")}


def rsyslog_includes(text: str, config_dir: str = "/etc") -> list[str]:
    """The files or globs a configuration includes (``$IncludeConfig``, ``include(file=...)``)."""
    text = _strip_comments(text)
    out = re.findall(r"^\s*\$IncludeConfig\s+(\S+)", text, re.M)
    for kind, params in _RS_CALL.findall(text):
        if kind.lower() == "include":
            out += [value for key, value in _params(params).items() if key == "file"]
    return [p if p.startswith("/") else posixpath.join(config_dir, p) for p in out]


def _strip_comments(text: str) -> str:
    """rsyslog configuration without comments (``# ...`` to the end of the line, ``/* ... */``
    after a space or at a line's start), quotes respected: ``File="/srv/app/*.log"`` and
    ``$IncludeConfig /etc/rsyslog.d/*.conf`` hold no comment."""
    out: list[str] = []
    quote: str | None = None
    n = 0
    while n < len(text):
        ch = text[n]
        if quote:
            out.append(ch)
            if ch == "\\" and n + 1 < len(text):
                out.append(text[n + 1])
                n += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
            out.append(ch)
        elif ch == "#":
            end = text.find("\n", n)
            n = len(text) if end < 0 else end
            continue
        elif text.startswith("/*", n) and (n == 0 or text[n - 1].isspace()):  # not a path's "/*.conf"
            end = text.find("*/", n + 2)
            n = len(text) if end < 0 else end + 2
            continue
        else:
            out.append(ch)
        n += 1
    return "".join(out)


def _params(text: str) -> dict[str, str]:
    return {m.group(1).lower(): next(g for g in m.groups()[1:] if g is not None) for m in _RS_PARAM.finditer(text)}


def parse_rsyslog(files: Mapping[str, str]) -> Shipping:
    out = Shipping()
    for text in files.values():
        text = _strip_comments(text)
        for kind, body in _RS_CALL.findall(text):
            params = _params(body)
            kind = kind.lower()
            module = params.get("type", params.get("load", "")).lower()
            if kind == "input" and module == "imfile" and params.get("file"):
                out.files.append(params["file"])
            elif kind in ("input", "module") and module in ("imjournal", "imuxsock", "imklog"):
                out.system_log = out.system_log or module != "imklog"
            elif kind == "action" and module in _REMOTE_ACTIONS:
                host_key, port_key = _REMOTE_ACTIONS[module]
                where = params.get(host_key, "?") + (f":{params[port_key]}" if port_key and params.get(port_key) else "")
                out.outputs.append(_dest(f"{module} {where}"))
            elif kind == "action" and module in ("omfile", "omjournal", "ompipe", "omprog", "omusrmsg"):
                out.local.append(module)
        out.files += re.findall(r"^\s*\$InputFileName\s+(\S+)", text, re.M)
        if re.search(r"^\s*\$ModLoad\s+(?:imuxsock|imjournal)\b", text, re.M):
            out.system_log = True
        for at, host, port in _RS_LEGACY_FORWARD.findall(text):
            out.outputs.append(_dest(f"{'tcp' if at == '@@' else 'udp'} {host}" + (f":{port}" if port else "")))
    return out


# --------------------------------------------------------------------------- YAML shippers

def _yaml(name: str, text: str, out: Shipping) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        out.problems.append(f"{name} is not valid YAML ({str(exc).splitlines()[0]})")
        return None


def _dotted(doc: Any) -> dict[str, Any]:
    """Filebeat's settings with dotted keys expanded one level (``output.logstash:`` and
    ``output: {logstash: ...}`` alike) -> {"output": {...}, "filebeat": {...}}."""
    out: dict[str, Any] = {}
    for key, value in (doc or {}).items() if isinstance(doc, dict) else ():
        head, _, rest = str(key).partition(".")
        if rest:
            out.setdefault(head, {})
            if isinstance(out[head], dict):
                nested = out[head]
                for part in rest.split(".")[:-1]:
                    nested = nested.setdefault(part, {})
                nested[rest.split(".")[-1]] = value
        elif isinstance(value, dict) and isinstance(out.get(head), dict):
            out[head].update(value)
        else:
            out[head] = value
    return out


_BEATS_REMOTE = ("elasticsearch", "logstash", "kafka", "redis")


def filebeat_includes(text: str, config_dir: str) -> list[str]:
    """``filebeat.config.inputs.path``: input files kept beside the main one."""
    doc = _dotted(_yaml("", text, Shipping()))
    config = doc.get("filebeat", {}).get("config", {}) if isinstance(doc.get("filebeat"), dict) else {}
    inputs = config.get("inputs", {}) if isinstance(config, dict) else {}
    path = inputs.get("path") if isinstance(inputs, dict) else None
    if not isinstance(path, str):
        return []
    path = path.replace("${path.config}", config_dir)
    return [path if path.startswith("/") else posixpath.join(config_dir, path)]


def parse_filebeat(files: Mapping[str, str]) -> Shipping:
    out = Shipping()
    for name, text in files.items():
        doc = _yaml(name, text, out)
        if isinstance(doc, list):  # an external inputs file: a list of inputs
            inputs: Any = doc
        else:
            settings = _dotted(doc)
            inputs = settings.get("filebeat", {}).get("inputs", []) if isinstance(settings.get("filebeat"), dict) else []
            output = settings.get("output", {})
            for kind, conf in (output.items() if isinstance(output, dict) else ()):
                if isinstance(conf, dict) and conf.get("enabled", True) is False:
                    continue
                if kind in _BEATS_REMOTE:
                    hosts = conf.get("hosts", []) if isinstance(conf, dict) else []
                    out.outputs.append(_dest(f"{kind} {', '.join(map(str, hosts)) if isinstance(hosts, list) else hosts}".strip()))
                else:
                    out.local.append(str(kind))
        for item in inputs if isinstance(inputs, list) else []:
            if not isinstance(item, dict) or item.get("enabled", True) is False:
                continue
            if item.get("type") == "journald":
                out.system_log = True
            paths = item.get("paths") or []
            out.files += [str(p) for p in paths] if isinstance(paths, list) else []
    return out


def parse_promtail(files: Mapping[str, str]) -> Shipping:
    out = Shipping()
    for name, text in files.items():
        doc = _yaml(name, text, out)
        if not isinstance(doc, dict):
            continue
        clients = doc.get("clients") or ([doc["client"]] if isinstance(doc.get("client"), dict) else [])
        out.outputs += [_dest(f"loki {c.get('url')}") for c in clients if isinstance(c, dict) and c.get("url")]
        for scrape in doc.get("scrape_configs") or []:
            if not isinstance(scrape, dict):
                continue
            if "journal" in scrape or "syslog" in scrape:
                out.system_log = True
            for static in scrape.get("static_configs") or []:
                labels = static.get("labels") if isinstance(static, dict) else None
                if isinstance(labels, dict) and labels.get("__path__"):
                    out.files.append(str(labels["__path__"]))
    return out


_VECTOR_LOCAL = {"console", "file", "blackhole"}


def parse_vector(files: Mapping[str, str]) -> Shipping:
    out = Shipping()
    for name, text in files.items():
        if name.endswith(".toml"):
            try:
                import tomllib
            except ImportError:  # Python 3.10
                out.problems.append(f"{name}: TOML is read from Python 3.11 on")
                continue
            try:
                doc: Any = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                out.problems.append(f"{name} is not valid TOML ({exc})")
                continue
        elif name.endswith(".json"):
            try:
                doc = json.loads(text)
            except ValueError as exc:
                out.problems.append(f"{name} is not valid JSON ({exc})")
                continue
        else:
            doc = _yaml(name, text, out)
        if not isinstance(doc, dict):
            continue
        for source in (doc.get("sources") or {}).values():
            if not isinstance(source, dict):
                continue
            if source.get("type") == "file":
                include = source.get("include") or []
                out.files += [str(p) for p in include] if isinstance(include, list) else []
            elif source.get("type") in ("journald", "syslog"):
                out.system_log = out.system_log or source.get("type") == "journald"
        for sink_id, sink in (doc.get("sinks") or {}).items():
            if not isinstance(sink, dict):
                continue
            kind = str(sink.get("type", "?"))
            if kind in _VECTOR_LOCAL:
                out.local.append(kind)
            else:
                where = sink.get("endpoint") or sink.get("address") or sink.get("uri") or sink.get("endpoints") or sink_id
                out.outputs.append(_dest(f"{kind} {where}"))
    return out


_FLB_LOCAL = {"stdout", "file", "null", "counter", "flowcounter", "exit", "lib"}


def fluentbit_includes(text: str, config_dir: str) -> list[str]:
    out = re.findall(r"^\s*@INCLUDE\s+(\S+)", text, re.M | re.I)
    return [p if p.startswith("/") else posixpath.join(config_dir, p) for p in out]


def parse_fluentbit(files: Mapping[str, str]) -> Shipping:
    out = Shipping()
    for name, text in files.items():
        sections: list[tuple[str, dict[str, str]]] = []
        if name.endswith((".yaml", ".yml")):
            doc = _yaml(name, text, out)
            pipeline = doc.get("pipeline", {}) if isinstance(doc, dict) else {}
            for kind in ("inputs", "outputs"):
                for entry in (pipeline.get(kind) or []) if isinstance(pipeline, dict) else []:
                    if isinstance(entry, dict):
                        sections.append((kind[:-1], {str(k).lower(): str(v) for k, v in entry.items()}))
        else:
            current: dict[str, str] | None = None
            for line in text.splitlines():
                stripped = line.strip()
                if not stripped or stripped.startswith("#") or stripped.startswith("@"):
                    continue
                header = re.match(r"^\[(\w+)\]$", stripped)
                if header:
                    current = {}
                    sections.append((header.group(1).lower(), current))
                elif current is not None:
                    key, _, value = stripped.partition(" ")
                    current[key.lower()] = value.strip()
        for kind, params in sections:
            plugin = params.get("name", "").lower()
            if kind == "input" and plugin == "tail":
                out.files += [p.strip() for p in params.get("path", "").split(",") if p.strip()]
            elif kind == "input" and plugin == "systemd":
                out.system_log = True
            elif kind == "output" and plugin in _FLB_LOCAL:
                out.local.append(plugin)
            elif kind == "output" and plugin:
                host = params.get("host") or params.get("uri") or params.get("endpoint") or ""
                out.outputs.append(_dest(f"{plugin} {host}{':' + params['port'] if params.get('port') else ''}".strip()))
    return out


def parse_journal_upload(files: Mapping[str, str], url: str | None) -> Shipping:
    out = Shipping(system_log=True)
    found = url
    for text in files.values():
        match = re.search(r"^\s*URL\s*=\s*(\S+)", text, re.M)
        found = found or (match.group(1) if match else None)
    if found:
        out.outputs.append(_dest(f"journal-remote {found}"))
    return out


#: name -> (the configuration's includes: (text, its folder) -> paths, the parser)
PARSERS: dict[str, tuple[Callable[[str, str], list[str]] | None, Callable[[Mapping[str, str]], Shipping]]] = {
    "rsyslog": (rsyslog_includes, parse_rsyslog),
    "Filebeat": (filebeat_includes, parse_filebeat),
    "Fluent Bit": (fluentbit_includes, parse_fluentbit),
    "Vector": (None, parse_vector),
    "Promtail": (None, parse_promtail),
}
