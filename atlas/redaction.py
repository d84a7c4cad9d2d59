"""One redaction for everything ATLAS writes: manifests, status files, predictions, trajectories, server logs.

Secrets reach ATLAS in four shapes, and each is recognised:

- values under secret-looking keys (`api_key`, `HF_TOKEN`, `auth_token`, `password` ...), at any depth,
  `extra_body` included; pydantic `SecretStr` fields (a managed server's `env`) dump masked anyway;
- command-line flags that carry one (`--api-key X`, `--hf-token=X`) in argv lists and in text;
- credentials inside URLs (`https://user:pass@host`);
- `key: value` / `key=value` pairs in text whose key names a secret (`"x-api-key": "..."`,
  `aws_secret_access_key = ...`, `HF_TOKEN=hf_... cmd`, `Authorization: Bearer ...`);
- the literal values learned from the configuration, from the overrides, and from the environment
  (every secret-named variable, inherited ones included, and the one `api_key_env` names), which
  are then masked wherever they appear in any text.

`redact` masks a JSON-like structure, `redact_text` a string; every file writer calls one of them, and
the console passes through `atlas.console_redaction`.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any

from pydantic import SecretStr

MASK = "***"
# `max_tokens` is a sampling setting, `hf_token` a secret: match on how the key ends (`secret` anywhere:
# `aws_secret_access_key`, `client_secret_id`)
SECRET_KEY = re.compile(r"(api[_-]?key|secret\w*|password|passwd|(^|(?<!_per)_)token|authorization|credentials?)$",
                        re.IGNORECASE)  # `bytes_per_token` is a size, not a token
# what a secret flag or key ends with; `-token` only after `--`: `pre-token` is a word, `--hf-token` a flag
_SECRET_WORD = r"(?:api[_-]?key|secret[\w-]*|password|passwd|token|credentials?|keyfile)"
# flags whose value is a secret, or the path of one (`--ssl-keyfile`)
SECRET_FLAG = re.compile(rf"^--?[\w-]*{_SECRET_WORD}$", re.IGNORECASE)
FLAG_IN_TEXT = re.compile(rf"(?<![\w-])(--?[\w-]*{_SECRET_WORD})([= ]+)([^\s'\",\]\\]+)", re.IGNORECASE)
# `"x-api-key": "v"`, `aws_secret_access_key = v`, `HF_TOKEN=v cmd`, `Authorization: Bearer v`: a key that names a
# secret (`_token` with an underscore, never `pre-token`), `:` or `=`, an optional auth scheme, the value
KEY_IN_TEXT = re.compile(
    r"""(?<![\w-])(\\?["']?)([\w-]*(?:api[_-]?key|secret[\w-]*|password|passwd|(?<![\w-])token|(?<!_per)_token"""
    r"""|authorization|credentials?))\1(\s*[:=]\s*)(\\?["']?)((?:(?:bearer|basic|token)\s+)?)([^\s'"`,;}\]\\]+)""",
    re.IGNORECASE)
URL_CREDENTIALS = re.compile(r"([a-zA-Z][\w+.-]*://)([^/\s:@'\"]+)(?::([^/\s@'\"]*))?@")
MIN_LEARNED = 6  # shorter values ("0", "true") would mask unrelated text


def _leaf_key(key: Any) -> str:
    """`model.server.env.HF_TOKEN` -> `HF_TOKEN`: overrides name keys with dots."""
    return str(key).lstrip("+~").rsplit(".", 1)[-1]


def is_secret_key(key: Any) -> bool:
    return bool(SECRET_KEY.search(_leaf_key(key)))


def _masks_values(key: Any, parent: Any) -> bool:
    """A server's environment map (`server.env`): every value is a secret (HF_TOKEN, proxy URLs ...).

    Only under `server`: the top-level `env` section is the container's settings, not a secret.
    """
    return _leaf_key(key) == "env" and _leaf_key(parent) == "server"


class Redactor:
    """Masks secrets by shape, and literal secret values it has learned, in structures and text."""

    def __init__(self) -> None:
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def remember(self, value: Any) -> None:
        """Mask this literal value wherever it appears from now on."""
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is not None and len(str(value)) >= MIN_LEARNED:
            with self._lock:
                self._known.add(str(value))

    def learn(self, data: Any, parent: Any = None) -> None:
        """Remember every secret value in a configuration-like structure."""
        if isinstance(data, dict):
            for key, value in data.items():
                if is_secret_key(key) and not isinstance(value, (dict, list)):
                    self.remember(value)
                elif _masks_values(key, parent) and isinstance(value, dict):
                    for item in value.values():
                        self.remember(item)
                else:
                    self.learn(value, key)
        elif isinstance(data, (list, tuple)):
            items = [str(v) if not isinstance(v, (dict, list, tuple)) else v for v in data]
            for index, item in enumerate(items):
                if isinstance(item, str):
                    flag, eq, value = item.partition("=")
                    if eq and (SECRET_FLAG.match(flag) or is_secret_key(flag)):
                        self.remember(value)
                    elif SECRET_FLAG.match(item) and index + 1 < len(items) and isinstance(items[index + 1], str):
                        self.remember(items[index + 1])
                self.learn(item)
        elif isinstance(data, SecretStr):
            self.remember(data)
        elif isinstance(data, str):
            for match in URL_CREDENTIALS.finditer(data):
                self.remember(match.group(3))
            for match in FLAG_IN_TEXT.finditer(data):
                self.remember(match.group(3))
            for match in KEY_IN_TEXT.finditer(data):
                self.remember(match.group(6))

    def text(self, text: str, shapes: bool = True) -> str:
        """`text` with learned values masked, and with `shapes`, URL credentials and secret flag values.

        Patches pass shapes=False: a repository's own `--password x` or `db://u:p@host` must reach
        the harness unchanged, while a learned secret is masked even there.
        """
        with self._lock:
            known = sorted(self._known, key=len, reverse=True)
        for value in known:
            if value in text:
                text = text.replace(value, MASK)
        if not shapes:
            return text
        text = URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{MASK}@", text)
        text = FLAG_IN_TEXT.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}" if m.group(3) != MASK else m.group(0), text)
        return KEY_IN_TEXT.sub(_mask_pair, text)

    def data(self, value: Any, parent: Any = None) -> Any:
        """A copy of a JSON-like structure with every secret masked."""
        if isinstance(value, dict):
            return {k: (MASK if is_secret_key(k) and v not in (None, "", {}, []) and not isinstance(v, (dict, list))
                        else {name: MASK for name in v} if _masks_values(k, parent) and isinstance(v, dict)
                        else self.data(v, k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            masked, hide_next = [], False
            for item in value:
                if hide_next and isinstance(item, str):
                    masked.append(MASK)
                    hide_next = False
                    continue
                hide_next = isinstance(item, str) and bool(SECRET_FLAG.match(item))
                if isinstance(item, str) and "=" in item and is_secret_key(item.split("=", 1)[0]):
                    masked.append(item.split("=", 1)[0] + "=" + MASK)
                else:
                    masked.append(self.data(item))
            return masked
        if isinstance(value, SecretStr):
            return MASK
        if isinstance(value, str):
            return self.text(value)
        return value


def _mask_pair(match: re.Match) -> str:
    quote, key, sep, vquote, scheme, value = match.groups()
    if value.startswith(MASK):
        return match.group(0)
    return f"{quote}{key}{quote}{sep}{vquote}{scheme}{MASK}"


REDACTOR = Redactor()


def learn_environment(*names: str | None) -> None:
    """Remember the values of the environment variables ATLAS or a server it starts may read.

    Every variable whose name names a secret (ANTHROPIC_API_KEY, OPENAI_API_KEY, HF_TOKEN,
    AWS_SECRET_ACCESS_KEY ...), inherited or not, and each variable named in `names` (a model's
    `api_key_env`, whatever it is called). Called before any server starts, so a server that prints
    its environment finds every value already masked.
    """
    for name, value in os.environ.items():
        if name in names or is_secret_key(name):
            REDACTOR.remember(value)


learn_secrets = REDACTOR.learn
remember_secret = REDACTOR.remember
redact = REDACTOR.data
redact_text = REDACTOR.text


def learn_overrides(overrides: list[str]) -> None:
    """Remember the secrets in command-line overrides, each value of a sweep (`key=a,b`) on its own.

    Hydra's own keys count too (`+hydra.job.env_set.HF_TOKEN=...`): they reach Hydra's files and the console.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    for line in overrides:
        try:
            override = OverridesParser.create().parse_override(line)
        except HydraException:  # not an override (a flag such as -m); Hydra reports bad ones itself
            continue
        try:
            values = (list(override.sweep_string_iterator()) if override.is_sweep_override()
                      else [override.get_value_element_as_str()] if override.value() is not None else [])
        except HydraException:  # glob(...) over a config group needs Hydra's loader: its text is no secret value
            values = []
        for value in values:
            if is_secret_key(override.key_or_group):
                REDACTOR.remember(value)
            REDACTOR.learn(value)
