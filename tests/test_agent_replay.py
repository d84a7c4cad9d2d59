"""The GPU bench's agent replay and table logic on CPU: ATLAS's loop against the stand-in server's /metrics."""

import json
import random
from pathlib import Path

import pytest

from atlas.models import make_model
from bench.agent_replay import at_concurrency, episode_steps, expected_steps, per_turn_growth, ratios, replay
from bench.gpu_table import Row, burst, waves
from tests.fake_openai import FakeOpenAIServer


@pytest.fixture
def served():
    server = FakeOpenAIServer(model="fake-coder", max_model_len=32768).start()
    server.prefix_caching, server.delay_s = True, 0.02
    model = make_model({"name": "fake", "backend": "vllm", "model": "fake-coder", "base_url": server.base_url,
                        "max_tokens": 64, "retry_initial_wait": 0.01})
    model.open(None)
    yield server, model
    model.close()
    server.stop()


def test_replay_drives_atlas_agents_and_reads_the_server_metrics(served):
    server, model = served
    result = replay(model, server.base_url, workers=2, seconds=2.0, warmup=0.5, command_s=0.05,
                    observation_bytes=600, prompt_tokens=1500)
    assert result["workers"] == 2 and result["requests"] >= 4
    # each agent's history only grows, so all but the new turn comes from the (stand-in's) prefix cache
    assert result["prefix_cache_hit_rate"] > 0.8 and result["client_prefix_reuse"] == 1.0
    # a turn adds one observation (600 bytes) and the answer's text: the stand-in counts 4 characters a token
    assert 140 <= result["turn_growth_tokens"] <= 220
    assert result["mean_prompt_tokens"] > 1000 and result["running_mean"] >= 0 and result["instances_per_hour"] > 0
    assert sum(result["episodes"].values()) >= 2 and not any(e.startswith("error") for e in result["episodes"])
    # the agents' tasks differ: no two episodes start with the same prompt
    prompts = [r["body"]["messages"][1]["content"] for r in server.requests if r["path"].endswith("/chat/completions")]
    assert len({p[:200] for p in prompts}) >= 2


def test_burst_fits_half_the_servers_window(served):
    server, model = served
    model.context_window = 4096
    row = Row("fake", 16, {"recommended_workers": 2, "max_context": 4096}, 14.4)
    assert burst(model, row) == []
    sent = [r for r in server.requests if r["path"].endswith("/chat/completions")]
    assert len(sent) == 2 and all(1500 <= len(r["body"]["messages"][0]["content"]) // 4 <= 2048 for r in sent)


def test_waves_pack_servers_by_their_planned_footprint():
    rows = [Row("a", 16, {}, 14.4), Row("b", 24, {}, 21.6), Row("c", 24, {}, 21.6), Row("d", 24, {}, 21.6),
            Row("e", 12, {}, 0.0)]
    groups = waves(rows, free_gib=78.0)
    assert [[r.preset for r in g] for g in groups] == [["a", "b", "c"], ["d"]]  # e does not start at all


def test_per_turn_growth_follows_each_episode():
    log = [{"worker": 0, "episode": 0, "prompt_tokens": 1000}, {"worker": 1, "episode": 0, "prompt_tokens": 5000},
           {"worker": 0, "episode": 0, "prompt_tokens": 1600}, {"worker": 1, "episode": 0, "prompt_tokens": 5550},
           {"worker": 0, "episode": 1, "prompt_tokens": 900}]
    assert sorted(per_turn_growth(log)) == [550, 600]


def test_ratios_at_the_same_workers_and_at_the_concurrency_the_server_saw():
    assert at_concurrency({1: 100.0, 2: 180.0}, 1.5) == pytest.approx(140.0)
    assert at_concurrency({1: 100.0}, 0.5) == pytest.approx(50.0) and at_concurrency({1: 100.0}, 3) is None
    replays = [{"workers": 2, "command_s": 1.0, "generation_tok_s": 126.0, "running_mean": 1.2, "waiting_mean": 0.3,
                "model_time_share": 0.55},
               {"workers": 2, "command_s": 0.0, "generation_tok_s": 190.0, "running_mean": 2.0, "waiting_mean": 0.0},
               {"workers": 1, "command_s": 1.0, "generation_tok_s": 60.0, "running_mean": 0.6, "waiting_mean": 0.0}]
    # vLLM's own: at 2 streams with the first window's shape, again with the no-command window's, at 1 stream
    serves = [{"concurrency": 2, "output_throughput": 180.0}, {"concurrency": 2, "output_throughput": 200.0},
              {"concurrency": 1, "output_throughput": 100.0}]
    first, alone, one = ratios(replays, serves)
    assert first["ratio_same_workers"] == 0.7 and first["server_concurrency"] == 1.5
    assert first["ratio_at_server_concurrency"] == 0.9 and first["model_time_share"] == 0.55
    assert alone["vllm_same_workers_tok_s"] == 200.0 and alone["ratio_same_workers"] == 0.95  # its own shape
    assert alone["vllm_at_server_concurrency_tok_s"] == 180.0  # interpolation: the first run at each concurrency
    assert one["ratio_same_workers"] == 0.6
    # a window without its own run borrows the first at its concurrency
    [_, borrowed] = ratios(replays[:1] * 2, [serves[0], None])
    assert borrowed["vllm_same_workers_tok_s"] == 180.0


def test_the_h100_traffic_meets_the_lines_it_is_judged_by():
    """The H100 run's own records, through `ratios`: at the recommended workers ATLAS's loop (no command
    time) reaches 90% of `vllm bench serve` with the same streams and shape, and vLLM's prefix cache 95%."""
    results = Path(__file__).resolve().parent.parent / "bench" / "results" / "2026-11-25-h100-traffic"
    records = [json.loads(line) for line in (results / "traffic4.jsonl").read_text().splitlines()]
    replays = [r for r in records if r["part"] == "agent-traffic"]
    serves = [r for r in records if r["part"] == "bench-serve"]
    assert [r["command_s"] for r in replays] == [s["command_s"] for s in serves] == [1.0, 0.0]
    with_commands, loop_alone = ratios(replays, serves)
    assert loop_alone["workers"] == replays[0]["recommended_workers"] == 2
    assert loop_alone["ratio_same_workers"] >= 0.9 and with_commands["ratio_same_workers"] < 0.9
    assert min(r["prefix_cache_hit_rate"] for r in replays) >= 0.95 and all(r["preemptions"] == 0 for r in replays)
    assert ratios(replays, serves) == [r for r in records if r["part"] == "ratios"][-1]["rows"]


def test_replayed_episodes_end_at_the_scaffolds_step_limit(served):
    server, model = served
    result = replay(model, server.base_url, workers=1, seconds=1.5, warmup=0.2, command_s=0.01,
                    observation_bytes=300, prompt_tokens=800, step_limit=3)
    assert result["step_limit"] == 3 and result["steps_per_instance"] == 3
    assert result["episodes"].get("step_limit", 0) >= 2, result["episodes"]


def test_episode_lengths_follow_the_published_steps_cut_at_the_limits():
    # Devstral Small 2 on the bash-only board: deciles 34 ... 250; at 50 steps eight of ten are cut
    assert expected_steps(50, 10_000) == (34 + 44 + 8 * 50) / 10
    assert expected_steps(250, 40) == (34 + 9 * 40) / 10 and expected_steps(250, 10_000) == pytest.approx(86.7)
    rng = random.Random(1)
    assert {episode_steps(rng, 50, 10_000) for _ in range(200)} == {34, 44, 50}
