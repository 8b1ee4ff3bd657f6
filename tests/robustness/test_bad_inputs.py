"""Every bad input ends in a few lines naming the option, file or row, with exit status 2 and no traceback.

Each case runs the real command line (`bilight.cli.main`) in-process in a scratch folder; two
cases also run as a real process to check the console output end to end. The marker-file cases
prove that a crafted checkpoint's payload never ran.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.robustness.helpers import GRPO, MAX_ERROR_LINES, SFT, SMOKE, TINY, crafted_checkpoint, run_main, run_process, scratch

FAST = ["--config", SFT, "--config", SMOKE]


@pytest.fixture(scope="module")
def sft_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 4-step SFT checkpoint of the tiny config (runs/sft/igsm_tiny_bridge/checkpoints/last.ckpt)."""
    import os

    folder = scratch(tmp_path_factory.mktemp("sft"))
    here = Path.cwd()
    os.chdir(folder)
    try:
        from bilight.cli import main

        main(["fit", "--config", SFT, "--config", TINY])
    finally:
        os.chdir(here)
    return folder / "runs" / "sft" / "igsm_tiny_bridge" / "checkpoints" / "last.ckpt"


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


CASES: dict[str, tuple[list[str], str]] = {
    "min_ops>max_ops": (
        [*FAST, "--data.task.init_args.min_ops", "5"],
        "data.task.init_args.min_ops: is larger than max_ops (3) (given: 5)",
    ),
    "ood_min_ops>max_ops": (
        [*FAST, "--data.ood_task.init_args.max_ops", "2"],
        "data.ood_task.init_args.min_ops: is larger than max_ops (2)",
    ),
    "unknown_injection": (
        [*FAST, "--data.injection", "bridgee"],
        "data.injection: is not a preset (given: 'bridgee'); choose one of answer_aug, bridge",
    ),
    "batch_size_0": ([*FAST, "--data.batch_size", "0"], "data.batch_size: must be >= 1 (given: 0)"),
    "eval_batch_size_negative": ([*FAST, "--data.eval_batch_size", "-4"], "data.eval_batch_size: must be >= 1 (given: -4)"),
    "max_new_tokens_0": ([*FAST, "--model.init_args.max_new_tokens", "0"], "model.init_args.max_new_tokens: must be >= 1 (given: 0)"),
    "max_steps_0": ([*FAST, "--trainer.max_steps", "0"], "trainer.max_steps: must be >= 1 (or -1 for no limit) (given: 0)"),
    "template_without_question": (
        [*FAST, "--data.prompt_template", "Solve:"],
        "data.prompt_template: has no {question} placeholder (given: 'Solve:')",
    ),
    "heads_do_not_divide_hidden": (
        [*FAST, "--model.init_args.num_heads", "3"],
        "model.init_args.hidden_size: is not divisible by num_heads (3)",
    ),
    "probability_above_1": (
        [*FAST, "--data.injection", '{"class_path": "bilight.injection.InjectionPolicy", "init_args": {"explore_p": 1.5}}'],
        "InjectionPolicy.explore_p must be in [0, 1], got 1.5",
    ),
    "unknown_option": ([*FAST, "--model.init_args.loss_typo", "3"], "Option 'loss_typo' is not accepted"),
    "unknown_loss_type": (
        ["--config", GRPO, "--model.init_args.loss_type", "ppo"],
        "Expected a typing.Literal['grpo', 'bnpo', 'dr_grpo', 'dapo']. Got value: ppo",
    ),
    "num_generations_1": (
        ["--config", GRPO, "--model.init_args.num_generations", "1"],
        "model.init_args.num_generations: must be >= 2 (given: 1)",
    ),
    "epsilon_high<epsilon": (
        ["--config", GRPO, "--model.init_args.epsilon_high", "0.1"],
        "model.init_args.epsilon_high: is smaller than epsilon (0.2) (given: 0.1)",
    ),
    "temperature_0": (
        ["--config", GRPO, "--model.init_args.temperature", "0"],
        "model.init_args.temperature: must be > 0 for rollouts (given: 0.0)",
    ),
    "top_p_0": (["--config", GRPO, "--model.init_args.top_p", "0"], "model.init_args.top_p: must be in (0, 1] (given: 0.0)"),
    "micro_batch_0": (["--config", GRPO, "--model.init_args.micro_batch_size", "0"], "model.init_args.micro_batch_size: must be >= 1"),
    "grpo_before_sft": (
        ["--config", GRPO],
        "model.init_args.init_from: does not exist (given: 'runs/sft/igsm_tiny_bridge/checkpoints/last.ckpt'); "
        "it is written by `bilight fit --config configs/sft/igsm_tiny_bridge.yaml`; run that first",
    ),
    "checkpointing_off_with_a_checkpoint_callback": (
        ["--config", SFT, "--trainer.enable_checkpointing", "false"],
        "Trainer was configured with `enable_checkpointing=False` but found `ModelCheckpoint` in callbacks list.",
    ),
    "missing_ckpt": (
        [*FAST, "--ckpt_path", "runs/nothing/last.ckpt"],
        "--ckpt_path: runs/nothing/last.ckpt does not exist or is not a file",
    ),
    "missing_config": (["--config", "configs/sft/nope.yaml"], "--config: is not a file (given: 'configs/sft/nope.yaml')"),
    "gsm8k_missing_file": (
        [*FAST, "--data.task", "bilight.tasks.GSM8KFormat", "--data.task.init_args.path", "data/gsm8k.jsonl", "--data.ood_task", "null"],
        "data.task.init_args.path: no file at data/gsm8k.jsonl",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_ends_in_a_short_message(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(scratch(tmp_path))
    args, expected = CASES[case]
    code, message = run_main(["fit", *args], capsys)
    assert code == 2, message
    assert message.startswith("bilight: error: ") and expected in message, message
    assert "Traceback" not in message and len(message.splitlines()) <= MAX_ERROR_LINES, message


def _short(code: int, message: str, expected: str) -> None:
    assert code == 2 and expected in message and "Traceback" not in message and len(message.splitlines()) <= MAX_ERROR_LINES, message


def test_malformed_yaml_names_file_line_and_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(scratch(tmp_path))
    bad = _write(tmp_path / "bad.yaml", "trainer: {max_steps: 3\n  oops\n")
    _short(
        *run_main(["fit", "--config", SFT, "--config", bad], capsys), "--config: is not valid YAML at line 3, column 1: expected ',' or '}'"
    )


def test_garbage_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(scratch(tmp_path))
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(bytes(range(256)) * 20)
    code, message = run_main(["validate", *FAST, "--ckpt_path", str(garbage)], capsys)
    _short(code, message, f"--ckpt_path: {garbage} is not a checkpoint written by torch.save")


def test_truncated_checkpoint(sft_ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(scratch(tmp_path))
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(sft_ckpt.read_bytes()[: sft_ckpt.stat().st_size // 2])
    _short(*run_main(["validate", *FAST, "--ckpt_path", str(cut)], capsys), f"--ckpt_path: {cut} is not a checkpoint written by torch.save")


@pytest.mark.parametrize("option", ["--ckpt_path", "--model.init_args.init_from"])
def test_crafted_checkpoint_is_refused_and_its_payload_never_runs(
    option: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(scratch(tmp_path))
    marker = tmp_path / "PAYLOAD_RAN"
    evil = crafted_checkpoint(tmp_path / "evil.ckpt", marker)
    code, message = run_main(["fit", *FAST, option, str(evil)], capsys)
    name = "--ckpt_path" if option == "--ckpt_path" else "model.init_from"
    _short(code, message, f"{name}: {evil} was refused: it holds objects other than tensors")
    assert not marker.exists()


def test_checkpoint_with_another_tokenizer(
    sft_ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(scratch(tmp_path))
    args = [
        "validate",
        "--config",
        SFT,
        "--config",
        TINY,
        "--data.prompt_template",
        "Problem: {question}\nWorked solution:",
        "--ckpt_path",
        str(sft_ckpt),
    ]
    code, message = run_main(args, capsys)
    _short(code, message, f"--ckpt_path: {sft_ckpt} was written for another model: its vocabulary has")
    assert "the tokenizer differs" in message


def test_init_from_another_model_size(
    sft_ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(scratch(tmp_path))
    args = ["fit", "--config", GRPO, "--config", TINY, "--model.init_args.init_from", str(sft_ckpt), "--model.init_args.hidden_size", "64"]
    code, message = run_main(args, capsys)
    _short(code, message, f"model.init_from: {sft_ckpt} was written for another model")
    assert "another model size" in message


def test_unwritable_run_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(scratch(tmp_path))
    (tmp_path / "runs").write_text("a file where the run folder's parent should be")
    code, message = run_main(["fit", "--config", SFT, "--config", TINY], capsys)
    _short(code, message, "trainer.logger.init_args.save_dir: cannot create the run folder runs/sft/igsm_tiny_bridge")


def test_console_output_is_short_and_debug_brings_the_traceback(tmp_path: Path) -> None:
    folder = scratch(tmp_path)
    result = run_process(folder, "fit", "--config", GRPO)
    assert result.returncode == 2
    message = result.stderr[result.stderr.find("bilight: error:") :]
    assert message.startswith("bilight: error: model.init_args.init_from: does not exist"), result.stderr[-2000:]
    assert len(message.splitlines()) == 2 and len(result.stderr.splitlines()) <= 3 and "Traceback" not in result.stderr
    debug = run_process(folder, "fit", "--config", GRPO, BILIGHT_DEBUG="1")
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "init_from" in debug.stderr
