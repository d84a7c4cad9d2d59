"""Loading instances from local files, HuggingFace-format datasets and task repos; malformed rows."""

import json
import os

import pytest

from atlas.config import DatasetConfig, RunSettings
from atlas.datasets import DatasetError, load_instances, select
from tests.conftest import atlas


def row(instance_id="acme__widgets-1", **changes):
    base = {
        "instance_id": instance_id, "repo": "acme/widgets", "base_commit": "a" * 40,
        "problem_statement": "It breaks.", "version": 1.0, "patch": "diff --git a/x b/x\n",
        "FAIL_TO_PASS": json.dumps(["tests/test_x.py::test_a"]), "PASS_TO_PASS": "[]",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def file_dataset(path):
    return DatasetConfig(name="f", source="file", path=str(path))


def test_jsonl_rows_become_instances(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [row(), row("acme__widgets-2")])
    instances = load_instances(file_dataset(path))
    assert [i.instance_id for i in instances] == ["acme__widgets-1", "acme__widgets-2"]
    assert instances[0].FAIL_TO_PASS == ["tests/test_x.py::test_a"]
    assert instances[0].version == "1.0"
    # no image column: the official harness's naming is derived
    assert instances[0].image_name() == "swebench/sweb.eval.x86_64.acme_1776_widgets-1:latest"


def test_json_and_parquet_files(tmp_path):
    pytest.importorskip("pyarrow")
    import datasets

    rows = [row(image=""), row("acme__widgets-2", image="my/image:1")]
    (tmp_path / "d.json").write_text(json.dumps(rows))
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "d.parquet"))
    for name in ("d.json", "d.parquet"):
        instances = load_instances(file_dataset(tmp_path / name))
        assert len(instances) == 2
        assert instances[1].image_name() == "my/image:1"


def test_huggingface_source_reads_a_saved_split(tmp_path):
    """A dataset id that is a local directory with <split>.parquet, as HF snapshots are laid out."""
    pytest.importorskip("pyarrow")
    import datasets

    datasets.Dataset.from_list([row(), row("acme__widgets-9")]).to_parquet(str(tmp_path / "test.parquet"))
    config = DatasetConfig(name="hf", source="huggingface", path=str(tmp_path), split="test")
    assert [i.instance_id for i in load_instances(config)] == ["acme__widgets-1", "acme__widgets-9"]


def test_unreachable_huggingface_dataset_is_a_clear_error(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    done = atlas("run", "dataset=verified", f"run.root={tmp_path}", env=env, timeout=300)
    assert done.returncode == 2
    assert "could not load dataset 'SWE-bench/SWE-bench_Verified'" in done.stderr
    assert "local file" in done.stderr


@pytest.mark.parametrize(
    "bad, field",
    [(row(base_commit=None), "base_commit"), (row(FAIL_TO_PASS="[oops"), "FAIL_TO_PASS"),
     (row(problem_statement="  "), "problem_statement"), (row(PASS_TO_PASS=json.dumps([1, 2])), "PASS_TO_PASS")],
)
def test_malformed_row_names_instance_and_field(tmp_path, bad, field):
    path = write_jsonl(tmp_path / "d.jsonl", [row("acme__widgets-0"), {**bad, "instance_id": "acme__widgets-7"}])
    with pytest.raises(DatasetError) as error:
        load_instances(file_dataset(path))
    assert "acme__widgets-7" in str(error.value) and field in str(error.value)


def test_duplicate_and_non_object_rows(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [row(), row()])
    with pytest.raises(DatasetError, match="acme__widgets-1 appears twice"):
        load_instances(file_dataset(path))
    (tmp_path / "l.json").write_text(json.dumps([row(), ["not", "a", "row"]]))
    with pytest.raises(DatasetError, match="row 1 is a list"):
        load_instances(file_dataset(tmp_path / "l.json"))


def test_missing_file_and_wrong_extension(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_instances(file_dataset(tmp_path / "nope.jsonl"))
    (tmp_path / "d.csv").write_text("x")
    with pytest.raises(DatasetError, match=r"\.json, \.jsonl or \.parquet"):
        load_instances(file_dataset(tmp_path / "d.csv"))


def test_bundled_task_repo_loads():
    instances = load_instances(DatasetConfig(name="s", source="task_repo", path="bundled"))
    assert len(instances) >= 8
    assert len({i.repo for i in instances}) >= 4
    assert all(i.patch and i.test_patch and i.FAIL_TO_PASS for i in instances)


def test_task_repo_errors_name_the_problem(tmp_path):
    with pytest.raises(DatasetError, match="no tasks/ directory"):
        load_instances(DatasetConfig(name="s", source="task_repo", path=str(tmp_path)))


def test_selection_by_ids_regex_and_slice(tmp_path):
    rows = [row(f"acme__widgets-{n}") for n in range(6)] + [row("other__lib-1", repo="other/lib")]
    instances = load_instances(file_dataset(write_jsonl(tmp_path / "d.jsonl", rows)))
    ids = lambda chosen: [i.instance_id for i in chosen]  # noqa: E731
    assert ids(select(instances, RunSettings(name="r", instance_ids=["other__lib-1", "acme__widgets-2"]))) == [
        "acme__widgets-2", "other__lib-1"]
    assert ids(select(instances, RunSettings(name="r", instance_regex="widgets-[12]$"))) == [
        "acme__widgets-1", "acme__widgets-2"]
    assert ids(select(instances, RunSettings(name="r", instance_regex="widgets", slice="1:3"))) == [
        "acme__widgets-1", "acme__widgets-2"]
    with pytest.raises(DatasetError, match="acme__widgets-99"):
        select(instances, RunSettings(name="r", instance_ids=["acme__widgets-99"]))
    with pytest.raises(DatasetError, match="matches nothing"):
        select(instances, RunSettings(name="r", instance_regex="zzz"))


def test_classic_rows_are_completed_on_load_and_the_record_says_how(tmp_path):
    """Rows with only SWE-bench's published columns load as `atlas dataset convert` would write them."""
    import hashlib

    from atlas.dataset_convert import SPECS_FILE
    from atlas.dataset_record import dataset_record
    from atlas.datasets import BUNDLED_REAL
    from tests.conftest import read_jsonl

    classic = read_jsonl(BUNDLED_REAL.with_name("rows.classic.jsonl"))
    classic[0]["image"] = "example.org/mine:1"  # a column the row has is kept
    path = write_jsonl(tmp_path / "classic.jsonl", classic)
    instances = load_instances(file_dataset(path))
    converted = {r["instance_id"]: r for r in read_jsonl(BUNDLED_REAL)}
    for instance in instances:
        expected = converted[instance.instance_id]
        if instance is instances[0]:
            expected = {**expected, "image": "example.org/mine:1"}
        assert instance.row == expected
    assert instances[0].derived == ["log_parser", "eval_type", "eval_script"]
    assert instances[0].image_name() == "example.org/mine:1"
    assert all(i.derived == ["image", "log_parser", "eval_type", "eval_script"] for i in instances[1:])
    record = dataset_record(instances)
    assert record["revision"] == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    n = len(classic)
    assert record["derived"]["rows"] == n
    assert record["derived"]["columns"] == {"eval_script": n, "eval_type": n, "image": n - 1, "log_parser": n}
    assert record["derived"]["spec_table_sha256"] == hashlib.sha256(SPECS_FILE.read_bytes()).hexdigest()
    # complete rows are left as they are, and nothing is recorded as derived
    complete = load_instances(file_dataset(BUNDLED_REAL))
    assert [i.row for i in complete] == list(converted.values()) and "derived" not in dataset_record(complete)
