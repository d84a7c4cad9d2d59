"""One redaction for everything ATLAS writes: manifests, status files, predictions, trajectories, server logs.

Secrets reach ATLAS in four shapes, and each is recognised:

- values under secret-looking keys (`api_key`, `HF_TOKEN`, `auth_token`, `password` ...), at any depth,
  `extra_body` included; pydantic `SecretStr` fields (a managed server's `env`) dump masked anyway;
- command-line flags that carry one (`--api-key X`, `--hf-token=X`) in argv lists and in text;
- credentials inside URLs (`https://user:pass@host`);
- the literal values learned from the configuration and from the environment variables that
  hold API keys, which are then masked wherever they appear in any text.

`redact` masks a JSON-like structure, `redact_text` a string; every file writer calls one of them.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from pydantic import SecretStr

MASK = "***"
# `max_tokens` is a sampling setting, `hf_token` a secret: match on how the key ends
SECRET_KEY = re.compile(r"(api_?key|secret|password|passwd|(^|_)token|authorization|credentials?)$", re.IGNORECASE)
# flags whose value is a secret, or the path of one (`--ssl-keyfile`)
SECRET_FLAG = re.compile(r"^--?[\w-]*(api[_-]?key|secret|password|passwd|token|credentials?|keyfile)$", re.IGNORECASE)
FLAG_IN_TEXT = re.compile(r"(--?[\w-]*(?:api[_-]?key|secret|password|passwd|token|credentials?|keyfile))([= ]+)([^\s'\",\]]+)",
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
        return FLAG_IN_TEXT.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}" if m.group(3) != MASK else m.group(0), text)

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


REDACTOR = Redactor()
learn_secrets = REDACTOR.learn
remember_secret = REDACTOR.remember
redact = REDACTOR.data
redact_text = REDACTOR.text
