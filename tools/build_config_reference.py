"""Write docs/configuration.md, the reference of every worker setting, from ccpulse.config.

python tools/build_config_reference.py           # rewrite the file
python tools/build_config_reference.py --check   # exit 1 if the file is stale

``src/ccpulse/config.py`` is the single source: the fields of ``Settings`` give
names, types and defaults; the ``#`` comments above each field (and a comment
at the end of its line) give its description; the ``_check(...)`` and
``_named(...)`` calls in the methods of ``Settings`` give the errors a wrong
value causes. The per-queue rules of ``queues_file`` come from
``ccpulse.domain.queue_config.QueueConfig`` the same way (its checks, its
defaults), with descriptions kept here, and the example from
``deploy/queues.example.toml``. Only the grouping into sections, the prose
around the tables and the example settings file are written here.
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import sys
import tokenize
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, Field, fields
from pathlib import Path
from typing import Any

from ccpulse import config
from ccpulse.config import ENV_PREFIX, SECRET_SETTINGS, Settings
from ccpulse.domain import queue_config, windows
from ccpulse.domain.queue_config import QueueConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generated_files import write_or_check

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs" / "configuration.md"
CONFIG_SOURCE = Path(config.__file__)
QUEUE_CONFIG_SOURCE = Path(queue_config.__file__)
WINDOWS_SOURCE = Path(windows.__file__)
QUEUES_EXAMPLE = ROOT / "deploy" / "queues.example.toml"

#: Sections of the reference, in order: title, introduction, the settings in it.
#: Every field of Settings must be in exactly one (tests/unit/test_config_reference.py).
SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "Kafka connection and security",
        "Every ccpulse client (the worker, `simulate`, `replay`, `import-*` and the topic set-up) connects "
        "with these settings. TLS is 1.2 or newer and checks the broker's host name against its certificate. "
        "When no connection can be made, the worker makes one connection by hand to say why and stops with "
        "exit code 2, naming the setting to fix (see [operations.md](operations.md#wrong-kafka-credentials)).",
        (
            "kafka_bootstrap",
            "kafka_security_protocol",
            "kafka_sasl_mechanism",
            "kafka_sasl_username",
            "kafka_sasl_password",
            "kafka_ssl_ca_file",
            "kafka_ssl_cert_file",
            "kafka_ssl_key_file",
            "kafka_ssl_key_password",
            "kafka_allow_sasl_without_tls",
        ),
    ),
    (
        "Topics",
        "The worker creates the topics it is missing at start-up with these partitions and replication "
        "factor; it never changes a topic that exists. The four topic names must differ from each other.",
        (
            "input_topic",
            "facts_topic",
            "dead_letter_topic",
            "kpi_topic",
            "topic_partitions",
            "topic_replication_factor",
        ),
    ),
    (
        "Worker and consumer group",
        "Workers with the same `app_id` form one Kafka consumer group and share the partitions.",
        (
            "app_id",
            "group_instance_id",
            "consumer_session_timeout_s",
            "batch_max_events",
            "batch_max_wait_ms",
            "input_batch_events",
            "data_dir",
            "log_level",
        ),
    ),
    (
        "Windows and clocks",
        "How time moves for the windows, and which events are still applied.",
        ("clock", "retention_hours", "max_future_skew_s", "kpi_publish_interval_s"),
    ),
    (
        "Metrics endpoint",
        "One HTTP server per worker serves `/metrics`, `/healthz` and `/readyz`. TLS and basic auth apply "
        "to `/metrics`; the probes need no credentials (over HTTPS when TLS is on).",
        (
            "metrics_host",
            "metrics_port",
            "metrics_tls_cert_file",
            "metrics_tls_key_file",
            "metrics_basic_auth_username",
            "metrics_basic_auth_password",
        ),
    ),
    (
        "Cardinality",
        "Bounds on the number of series one worker exports.",
        ("metrics_max_queues", "metrics_per_agent", "metrics_max_agents"),
    ),
    (
        "Privacy",
        "Customer ids never reach the internal topics, the outputs, the logs or `/metrics`; only the "
        "dead-letter topic keeps a rejected message's bytes, unless redacted.",
        ("customer_hash_key", "dead_letter_redact_payload"),
    ),
    (
        "Queues",
        "The KPI rules per queue live in a file of their own; its format is [below](#the-queues-file).",
        ("queues_file",),
    ),
)

#: What each per-queue rule means; QueueConfig has no comments to read them from.
#: Every field of QueueConfig but queue_name must be here (the test checks it).
QUEUE_KEY_DESCRIPTIONS: dict[str, str] = {
    "sl_thresholds_s": "Service-level thresholds in seconds, increasing and without repeats; every SL series "
    "and KPI row is computed for each of them.",
    "sl_target_threshold_s": "The threshold of the queue's SL target (exported in `ccpulse_sl_target_ratio`, "
    "used by `CcpulseServiceLevelBelowTarget` and by Erlang staffing); one of `sl_thresholds_s`.",
    "sl_target_ratio": "The SL target: the share of contacts to answer within `sl_target_threshold_s`.",
    "short_abandon_s": "Abandons within this many seconds are short: counted apart and kept out of every "
    "denominator. 0 switches this off.",
    "acw_timeout_s": "A handling segment with no wrap-up this many seconds after the contact ended completes "
    "there, as an ACW timeout.",
    "repeat_window_h": "A handled contact counts for FCR once this many hours have passed; a contact of the "
    "same customer within them is a repeat (needs `customer_hash_key`).",
    "time_zone": "IANA time zone of the queue's site: days and the daily reset follow it (23 h and 25 h days "
    "at DST changes included).",
    "daily_reset": "Local time, `HH:MM`, at which the queue's `today` window starts.",
    "complaint_dispositions": "Dispositions counted as complaints.",
    "escalation_dispositions": "Dispositions counted as contact escalations.",
    "cost_per_agent_hour": "Cost of one staffed agent hour; when set, cost per contact is exported. "
    "Not set: no cost KPIs.",
    "wait_bounds_s": "Bucket bounds (seconds) of the wait histograms; the SL thresholds and the short-abandon "
    "threshold are always added.",
}

#: An example file for a production worker; the test loads it with load_settings.
EXAMPLE_TOML = """\
# /etc/ccpulse/ccpulse.toml: ccpulse worker --config /etc/ccpulse/ccpulse.toml
# Secrets and the per-pod id come from the environment:
#   CCPULSE_KAFKA_SASL_PASSWORD, CCPULSE_CUSTOMER_HASH_KEY, CCPULSE_GROUP_INSTANCE_ID
kafka_bootstrap = "kafka-0.kafka:9093,kafka-1.kafka:9093,kafka-2.kafka:9093"
kafka_security_protocol = "SASL_SSL"
kafka_sasl_mechanism = "SCRAM-SHA-512"
kafka_sasl_username = "ccpulse"
app_id = "ccpulse"
input_topic = "cc.events"
facts_topic = "cc.contact-facts"
dead_letter_topic = "cc.dead-letters"
kpi_topic = "cc.kpis"
topic_partitions = 12
topic_replication_factor = 3
metrics_port = 9464
log_level = "info"
retention_hours = 48
"""

_TYPE_WORDS = {
    str: "string",
    int: "integer",
    float: "number (integer or fraction)",
    bool: "boolean",
    Path: "string (a path)",
}
_QUEUE_TYPE_WORDS = {
    "tuple[int, ...]": "list of integers",
    "frozenset[str]": "list of strings",
    "float | None": "number",
    "float": "number",
    "int": "integer",
    "str": "string",
}
_PLACEHOLDER = "…"


# -- reading the sources ------------------------------------------------------------------------


def _comments(source: str) -> dict[int, tuple[str, bool]]:
    """Line number -> (comment text without '#', whether the comment is the whole line)."""
    found: dict[int, tuple[str, bool]] = {}
    lines = source.splitlines()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            row, col = token.start
            found[row] = (token.string.lstrip("#").strip(), not lines[row - 1][:col].strip())
    return found


def _class(tree: ast.Module, name: str) -> ast.ClassDef:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    raise LookupError(f"class {name} not found")


def field_descriptions(source: str, class_name: str) -> dict[str, str]:
    """Each field of ``class_name``: the comment lines right above it, then a comment at the end of its line.

    A comment of the form ``noqa: ...`` is a note for the linter and is left out.
    """
    comments = _comments(source)
    descriptions: dict[str, str] = {}
    for node in _class(ast.parse(source), class_name).body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above: list[str] = []
        row = node.lineno - 1
        while row in comments and comments[row][1]:
            above.insert(0, comments[row][0])
            row -= 1
        parts = [" ".join(above)] if above else []
        inline = comments.get(node.end_lineno or node.lineno)
        if inline is not None and not inline[1] and not inline[0].startswith("noqa"):
            parts.append(inline[0])
        descriptions[node.target.id] = " ".join(_sentence(part) for part in parts)
    return descriptions


def _constants_only(node: ast.expr) -> bool:
    """True if every name in ``node`` is a module constant (upper case), so it can be filled in."""
    return all(name.id.isupper() for name in ast.walk(node) if isinstance(name, ast.Name))


def _sentence(text: str) -> str:
    """A capital first letter (but not in "ccpulse") and a full stop at the end."""
    if text and not text.startswith("ccpulse"):
        text = text[0].upper() + text[1:]
    return text if not text or text.endswith(".") else text + "."


def _message(node: ast.expr, namespace: Mapping[str, Any]) -> str | None:
    """The text of an error message: constants as they are, module constants filled in, the rest '…'."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if not isinstance(node, ast.JoinedStr):
        return None
    parts: list[str] = []
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(str(value.value))
        elif isinstance(value, ast.FormattedValue):
            shown = _PLACEHOLDER
            if _constants_only(value.value):
                code = compile(ast.Expression(value.value), "<message>", "eval")
                shown = str(eval(code, {"__builtins__": {}}, dict(namespace)))  # noqa: S307 - our own source
            parts.append(shown)
    return "".join(parts)


def _string_tuple(node: ast.expr, bound: Mapping[str, tuple[str, ...]]) -> tuple[str, ...] | None:
    """The strings of a literal tuple or list of strings, or of a name bound to one."""
    if isinstance(node, ast.Name):
        return bound.get(node.id)
    if isinstance(node, ast.Tuple | ast.List):
        values = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        if len(values) == len(node.elts):
            return tuple(values)
    return None


def _blocks(statement: ast.stmt) -> list[list[ast.stmt]]:
    """The statement lists nested in ``statement`` (if/for/while/with/try bodies), not function bodies."""
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return []
    blocks = [getattr(statement, part, None) for part in ("body", "orelse", "finalbody")]
    found = [block for block in blocks if isinstance(block, list) and block]
    found += [handler.body for handler in getattr(statement, "handlers", [])]
    return found


def _own_calls(statement: ast.stmt) -> Iterator[ast.Call]:
    """Calls in ``statement`` itself, not in the statements of its blocks (nor in nested definitions)."""
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return
    nested = {id(s) for block in _blocks(statement) for s in block}
    stack: list[ast.AST] = [child for child in ast.iter_child_nodes(statement) if id(child) not in nested]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.ExceptHandler):
            continue
        if isinstance(node, ast.Call):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _checks_of(
    statement: ast.stmt, callees: Mapping[str, tuple[int, int]], namespace: Mapping[str, Any], bound: Mapping[str, Any]
) -> Iterator[tuple[str, str]]:
    """(setting, message) of the calls to ``callees`` in ``statement`` itself."""
    for node in _own_calls(statement):
        if not isinstance(node.func, ast.Name) or node.func.id not in callees:
            continue
        name_at, message_at = callees[node.func.id]
        if len(node.args) <= max(name_at, message_at):
            continue
        message = _message(node.args[message_at], namespace)
        if message is None or not re.search(r"\w", message):
            continue  # a message that only passes another error on says nothing here
        setting = node.args[name_at]
        if isinstance(setting, ast.Constant) and isinstance(setting.value, str):
            yield setting.value, message
        elif isinstance(setting, ast.Name):
            for name in bound.get(setting.id, ()):
                yield name, message


def _walk_checks(
    statements: list[ast.stmt],
    callees: Mapping[str, tuple[int, int]],
    namespace: Mapping[str, Any],
    bound: dict[str, tuple[str, ...]],
) -> Iterator[tuple[str, str]]:
    """(setting, message) of every call to one of ``callees`` (name -> index of the setting and message args).

    The setting is a string literal, or the variable of ``for name in ("a", "b"):`` (or of a loop
    over a tuple of strings assigned before it), which stands for each of them.
    """
    for statement in statements:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target, values = statement.targets[0], _string_tuple(statement.value, bound)
            if isinstance(target, ast.Name) and values is not None:
                bound[target.id] = values
        yield from _checks_of(statement, callees, namespace, bound)
        inner = dict(bound)
        if isinstance(statement, ast.For) and isinstance(statement.target, ast.Name):
            values = _string_tuple(statement.iter, bound)
            if values is not None:
                inner[statement.target.id] = values
        for block in _blocks(statement):
            yield from _walk_checks(block, callees, namespace, inner)


def checks_in(
    source: str, callees: Mapping[str, tuple[int, int]], namespace: Mapping[str, Any], class_name: str | None = None
) -> dict[str, list[str]]:
    """Setting -> the error messages of the checks naming it, in source order, without repeats.

    Searches the methods of ``class_name``, or every function of the module.
    """
    tree = ast.parse(source)
    if class_name:
        functions = [node for node in _class(tree, class_name).body if isinstance(node, ast.FunctionDef)]
    else:
        functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]
    found: dict[str, list[str]] = {}
    for function in functions:
        for name, message in _walk_checks(function.body, callees, namespace, {}):
            if message not in found.setdefault(name, []):
                found[name].append(message)
    return found


def settings_checks() -> dict[str, list[str]]:
    source = CONFIG_SOURCE.read_text(encoding="utf-8")
    return checks_in(source, {"_check": (1, 2), "_named": (0, 1)}, vars(config), "Settings")


def queue_checks() -> dict[str, list[str]]:
    source = QUEUE_CONFIG_SOURCE.read_text(encoding="utf-8")
    checks = checks_in(source, {"check": (1, 2)}, vars(queue_config), "QueueConfig")
    # time_zone and daily_reset are checked by the window rule (DailyReset) the queue config builds.
    window_source = WINDOWS_SOURCE.read_text(encoding="utf-8")
    window_rules = checks_in(window_source, {"InvalidWindowSetting": (0, 1)}, vars(windows))
    for name in ("time_zone", "daily_reset"):
        checks.setdefault(name, []).extend(window_rules.get(name, []))
    return checks


# -- rendering ----------------------------------------------------------------------------------


def env_var(name: str) -> str:
    return ENV_PREFIX + name.upper()


def type_word(name: str) -> str:
    """How the type of setting ``name`` is written in the reference (the type config.py parses it as)."""
    parsed_as = config._FIELD_TYPES[name]
    if parsed_as not in _TYPE_WORDS:
        raise ValueError(f"setting {name}: add its type {parsed_as.__name__} to _TYPE_WORDS in the generator")
    return _TYPE_WORDS[parsed_as]


def toml_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_literal(item) for item in value) + "]"
    if isinstance(value, frozenset | set):
        return toml_literal(sorted(value))
    raise TypeError(f"no TOML form for {value!r}")


def default_text(name: str, value: Any) -> str:
    """The default as it would be written in TOML; a secret's value is never shown."""
    if name in SECRET_SETTINGS:
        return '`""` (secret)' if value == "" else "(secret)"
    return f"`{toml_literal(value)}`"


def _default_of(spec: Field[Any]) -> Any:
    if spec.default is not MISSING:
        return spec.default
    if spec.default_factory is not MISSING:
        return spec.default_factory()
    raise ValueError(f"{spec.name} has no default")


def settings_defaults() -> dict[str, Any]:
    return {spec.name: _default_of(spec) for spec in fields(Settings)}


def _prose(text: str, names: set[str], here: str) -> str:
    """Setting names (those with an underscore) as links to their entries; '<' escaped for Markdown."""
    text = text.replace("<", "&lt;")
    linked = sorted((re.escape(name) for name in names if "_" in name), key=len, reverse=True)
    pattern = re.compile(r"(?<![\w`])(" + "|".join(linked) + r")(?![\w`])")
    return pattern.sub(lambda m: f"`{m[1]}`" if m[1] == here else f"[`{m[1]}`](#{m[1]})", text)


def _code(text: str) -> str:
    return f"``{text}``" if "`" in text else f"`{text}`"


def section_of() -> dict[str, str]:
    """Setting -> the title of its section; raises if a setting is in none or in two."""
    owner: dict[str, str] = {}
    for title, _, names in SECTIONS:
        for name in names:
            if name in owner:
                raise ValueError(f"setting {name} is in sections {owner[name]!r} and {title!r}")
            owner[name] = title
    known = {spec.name for spec in fields(Settings)}
    missing, unknown = known - set(owner), set(owner) - known
    if missing or unknown:
        raise ValueError(
            f"tools/build_config_reference.py SECTIONS: put {sorted(missing)} in a section; "
            f"remove {sorted(unknown)}, which Settings does not have"
        )
    return owner


def _bool_words() -> tuple[str, str]:
    true_words = ", ".join(f"`{w}`" for w in sorted(config._TRUE_WORDS))
    false_words = ", ".join(f"`{w}`" for w in sorted(config._FALSE_WORDS))
    return true_words, false_words


def _intro() -> list[str]:
    true_words, false_words = _bool_words()
    return [
        "# Configuration reference",
        "",
        "Every setting of a ccpulse worker and of the other `ccpulse` commands. Generated from",
        "`src/ccpulse/config.py` (and, for the queues file, `src/ccpulse/domain/queue_config.py`) by",
        "`python tools/build_config_reference.py`; do not edit by hand: change the comment above the field",
        "in `config.py` and run the tool again.",
        "",
        "## Where settings come from",
        "",
        "Each setting is taken from the first of these that has it:",
        "",
        f"1. the environment: `{ENV_PREFIX}` followed by the setting's name in upper case, e.g.",
        f"   `{env_var('kafka_bootstrap')}` for `kafka_bootstrap`;",
        "2. the TOML file given with `--config FILE` (every command but `bench` takes it): one top-level",
        "   `key = value` per setting, the key being the setting's name;",
        "3. the built-in default.",
        "",
        "So the environment overrides the file, and the file overrides the defaults. Every key is optional.",
        "",
        "How values are read:",
        "",
        "- In the TOML file a value must have the setting's type: a string in quotes for a string or a",
        "  path, a whole number for an integer, a whole number or a fraction for a number, `true` or",
        "  `false` for a boolean. A boolean or a fraction where an integer belongs, or a number where a",
        "  string belongs, is an error. A key that is not a setting is an error that lists the known ones.",
        "- From the environment every value is text. Integers and numbers are parsed as Python's `int()`",
        "  and `float()` do (`CCPULSE_TOPIC_PARTITIONS=4.0` is an error); booleans accept",
        f"  {true_words} and {false_words}, in any case. An empty variable sets a string",
        "  setting to empty (overriding the file), sets `data_dir` to the current directory, and is an",
        f"  error for numbers and booleans. Variables that start with `{ENV_PREFIX}` but name no setting",
        "  are ignored.",
        "- Every value is then checked (ranges, choices, files that must exist, settings that go",
        "  together). The checks are listed with each setting below.",
        "",
        "A wrong setting stops the command before it connects to anything: it prints",
        "`ccpulse: configuration error: ` and a message naming the setting and its variable, such as",
        f"`setting topic_partitions (env {env_var('topic_partitions')}): must be between 1 and 10000`",
        "(or, for a value of the wrong type, where it came from), and exits with code 2. A secret's value",
        "never appears in such a message.",
        "",
        "To see the settings a worker would run with, without starting it:",
        "",
        "```sh",
        "ccpulse settings --config /etc/ccpulse/ccpulse.toml   # the same file and environment as the worker",
        "```",
        "",
        "It prints one `name = value` line per setting after all sources and checks, secrets that are set",
        "as `<set, not shown>`, and exits with code 2 on a configuration error, so it also serves as a check",
        "of a configuration before a deployment. `ccpulse worker --help` lists every setting with its",
        "variable and default.",
        "",
        "An example file for a production worker (the secrets come from the environment):",
        "",
        "```toml",
        EXAMPLE_TOML.rstrip("\n"),
        "```",
        "",
        "[`deploy/ccpulse.example.toml`](../deploy/ccpulse.example.toml) lists every setting with its default.",
        "",
        "## Contents",
        "",
    ]


def _anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")


def render_settings(defaults: Mapping[str, Any] | None = None) -> list[str]:
    """The sections of settings; ``defaults`` replaces the defaults of Settings (for tests)."""
    section_of()  # every setting in exactly one section
    defaults = settings_defaults() if defaults is None else defaults
    descriptions = field_descriptions(CONFIG_SOURCE.read_text(encoding="utf-8"), "Settings")
    checks = settings_checks()
    names = set(descriptions)
    lines: list[str] = []
    for title, text, members in SECTIONS:
        lines += [f"## {title}", ""]
        if text:
            lines += [text, ""]
        lines += ["| setting | env var | type | default |", "|---|---|---|---|"]
        for name in members:
            lines.append(
                f"| [`{name}`](#{name}) | `{env_var(name)}` | {type_word(name)} | "
                f"{default_text(name, defaults[name])} |"
            )
        lines.append("")
        for name in members:
            description = descriptions.get(name, "")
            if not description:
                raise ValueError(f"setting {name} has no comment above it in src/ccpulse/config.py")
            lines += [f"### {name}", "", _prose(description, names, name), ""]
            lines.append(f"- env var: `{env_var(name)}`")
            lines.append(f"- type: {type_word(name)}")
            lines.append(f"- default: {default_text(name, defaults[name])}")
            if name in SECRET_SETTINGS:
                lines.append("- secret: never printed by `ccpulse settings`, in error messages or in logs")
            for message in checks.get(name, []):
                lines.append(f"- error if: {_code(message)}")
            lines.append("")
    return lines


def _queue_type(spec: Field[Any]) -> str:
    if str(spec.type) not in _QUEUE_TYPE_WORDS:
        raise ValueError(f"queue rule {spec.name}: add its type {spec.type} to _QUEUE_TYPE_WORDS in the generator")
    return _QUEUE_TYPE_WORDS[str(spec.type)]


def render_queues_file() -> list[str]:
    specs = [spec for spec in fields(QueueConfig) if spec.name != "queue_name"]
    missing = {spec.name for spec in specs} - set(QUEUE_KEY_DESCRIPTIONS)
    if missing:
        raise ValueError(f"tools/build_config_reference.py QUEUE_KEY_DESCRIPTIONS: describe {sorted(missing)}")
    checks = queue_checks()
    lines = [
        "## The queues file",
        "",
        "The file named by [`queues_file`](#queues_file) holds the KPI rules per queue. It is TOML with two",
        "kinds of tables and nothing else:",
        "",
        "- `[default]`: rules for every queue;",
        "- `[queues.NAME]`: rules for the queue `NAME`, on top of `[default]` (a key given here replaces",
        '  the default\'s value, lists included). Quote names with dots or spaces: `[queues."tier.2"]`.',
        "",
        "Every key is optional; a key that is not listed here, or another table, is an error naming",
        "`queues_file` (and the queue). The file is read and checked when the settings are loaded, so",
        "`ccpulse settings` checks it too. Without a file every queue gets the defaults below.",
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
    ]
    for spec in specs:
        default = _default_of(spec)
        shown = "not set" if default is None else f"`{toml_literal(default)}`"
        meaning = QUEUE_KEY_DESCRIPTIONS[spec.name]
        errors = checks.get(spec.name, [])
        if errors:
            meaning += " Error if: " + "; ".join(_code(message) for message in errors) + "."
        lines.append(f"| `{spec.name}` | {_queue_type(spec)} | {shown} | {meaning.replace('|', '/')} |")
    lines += [
        "",
        "The example shipped in [`deploy/queues.example.toml`](../deploy/queues.example.toml):",
        "",
        "```toml",
        QUEUES_EXAMPLE.read_text(encoding="utf-8").rstrip("\n"),
        "```",
        "",
        "A changed queues file takes effect when the workers restart. What that does to KPIs already",
        "computed, and how to recompute history under new rules, is in",
        "[operations.md](operations.md#upgrading-kpi-definitions).",
        "",
    ]
    return lines


def render(defaults: Mapping[str, Any] | None = None) -> str:
    lines = _intro()
    for title, _, _ in SECTIONS:
        lines.append(f"- [{title}](#{_anchor(title)})")
    lines += ["- [The queues file](#the-queues-file)", ""]
    lines += render_settings(defaults)
    lines += render_queues_file()
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/configuration.md is not up to date")
    args = parser.parse_args(argv)
    try:
        text = render()
    except ValueError as exc:
        print(f"cannot build {TARGET}: {exc}", file=sys.stderr)
        return 1
    return write_or_check({TARGET: text}, check=args.check, tool="build_config_reference.py")


if __name__ == "__main__":
    raise SystemExit(main())
