"""Configuration declared once: every field of a stage's dg.Config is a run's override of a field of
the domain dataclass it builds (or a named run input), with no default of its own."""

import typing
from dataclasses import MISSING, fields, replace

import pytest

from cineseq_assets.forecast.assets import ForecastEvaluationConfig, ForecastTrainingConfig
from cineseq_assets.forecast.evaluate import EvaluationConfig
from cineseq_assets.forecast.models import ARCHITECTURES
from cineseq_assets.forecast.models.common import ModelConfig
from cineseq_assets.forecast.splits import SERVED_SPLIT, SplitConfig
from cineseq_assets.forecast.train import TrainConfig
from cineseq_assets.frames.assets import FrameClassifierConfig, RepresentativeFramesConfig
from cineseq_assets.frames.experiment import ExperimentConfig
from cineseq_assets.trailers.assets import STUDENT_EPOCHS, StudentTrainingConfig, TrailerEmotionConfig
from cineseq_assets.trailers.pipeline import TrailerConfig
from cineseq_assets.trailers.student.net import SPEED_FIRST

CONFIGS = [ForecastTrainingConfig, ForecastEvaluationConfig, TrailerEmotionConfig, StudentTrainingConfig, FrameClassifierConfig,
           RepresentativeFramesConfig]


def _overridable(config_class) -> list[str]:
    return [name for name in config_class.model_fields if name not in config_class.RUN_INPUTS]


def _sample(config_class, name: str):
    """A value of the field's type that no default holds."""
    kind = next(t for t in typing.get_args(config_class.model_fields[name].annotation) if t is not type(None))
    if typing.get_origin(kind) is list:
        return [_SAMPLES[typing.get_args(kind)[0]]] * 2
    return _SAMPLES[kind]


_SAMPLES = {int: 7, float: 0.25, bool: "flip", str: "sample"}


def _set(config_class, name: str, default_owner):
    """(config with ``name`` set, the value the built dataclass must hold)."""
    value = _sample(config_class, name)
    if value == "flip":
        value = not getattr(default_owner, name)
    expected = tuple(value) if isinstance(value, list) else value
    return config_class(**{name: value}), expected


@pytest.mark.parametrize("config_class", CONFIGS, ids=lambda c: c.__name__)
def test_overrides_have_no_default_of_their_own(config_class):
    for name in _overridable(config_class):
        assert config_class.model_fields[name].default is None, f"{config_class.__name__}.{name} declares a default"


def test_forecast_training_config_builds_train_and_split_configs():
    assert ForecastTrainingConfig().train_config() == TrainConfig()
    assert ForecastTrainingConfig().split_config() == SERVED_SPLIT == replace(SplitConfig(), train_on_test=True)
    assert ForecastTrainingConfig(train_on_test=False).split_config() == SplitConfig()
    assert ForecastTrainingConfig().architecture_names() == list(ARCHITECTURES)
    for name in _overridable(ForecastTrainingConfig):
        config, expected = _set(ForecastTrainingConfig, name, TrainConfig())
        assert getattr(config.train_config(), name) == expected, name
    config = ForecastTrainingConfig(architectures=["seq2seq"], split_kind="out_of_time")
    assert config.architecture_names() == ["seq2seq"] and config.train_config("seq2seq").architecture == "seq2seq"
    assert config.split_config().kind == "out_of_time"


def test_model_config_takes_the_architecture_fields_from_train_config(tiny_models):
    from cineseq_assets.forecast.train import model_config

    trained, data = tiny_models["seq2seq"]
    built = model_config(trained.train_config, data)
    shared = {f.name for f in fields(ModelConfig)} & {f.name for f in fields(TrainConfig)}
    assert shared == {"encoder_length", "hidden", "static_hidden", "attention_hidden", "dropout", "decay_residual"}
    assert all(getattr(built, name) == getattr(trained.train_config, name) for name in shared)
    assert all(f.default is MISSING for f in fields(ModelConfig) if f.name in shared)  # no second default


def test_forecast_evaluation_config_builds_the_evaluation_and_its_train_config():
    assert ForecastEvaluationConfig().evaluation_config() == EvaluationConfig()
    for name in _overridable(ForecastEvaluationConfig):
        in_evaluation = name in EvaluationConfig.__dataclass_fields__
        config, expected = _set(ForecastEvaluationConfig, name, EvaluationConfig() if in_evaluation else TrainConfig())
        built = config.evaluation_config()
        assert getattr(built if in_evaluation else built.train, name) == expected, name


def test_trailer_emotion_config_builds_the_trailer_config():
    assert TrailerEmotionConfig().build(TrailerConfig()) == TrailerConfig()
    for name in _overridable(TrailerEmotionConfig):
        config, expected = _set(TrailerEmotionConfig, name, TrailerConfig())
        assert getattr(config.build(TrailerConfig()), name) == expected, name
    assert TrailerEmotionConfig(max_side=None).build(TrailerConfig()).max_side is None  # the dataclass's type: int | None


def test_student_training_config_builds_the_student_config():
    assert StudentTrainingConfig().student_config() == replace(SPEED_FIRST, epochs=STUDENT_EPOCHS)
    for name in _overridable(StudentTrainingConfig):
        config, expected = _set(StudentTrainingConfig, name, SPEED_FIRST)
        assert getattr(config.student_config(), name) == expected, name


def test_frame_classifier_config_builds_the_experiment_and_each_models_config():
    # The fine-tuned variant is left out unless asked for (frames/assets.py says why)
    assert FrameClassifierConfig().experiment_config() == replace(ExperimentConfig(), finetune=None)
    assert FrameClassifierConfig(finetune=True).experiment_config() == ExperimentConfig()
    for name in _overridable(FrameClassifierConfig):
        if name in ExperimentConfig.__dataclass_fields__:
            config, expected = _set(FrameClassifierConfig, name, ExperimentConfig())
            assert getattr(config.experiment_config(), name) == expected, name
            continue
        config, expected = _set(FrameClassifierConfig, name, ExperimentConfig().scratch)
        built = config.model_copy(update={"finetune": True}).experiment_config()
        assert all(getattr(getattr(built, model), name) == expected for model in ("scratch", "transfer", "finetune")), name
    assert FrameClassifierConfig(finetune=False).experiment_config().finetune is None


def test_representative_frames_config_overrides_the_functions_arguments():
    import inspect

    from cineseq_assets.frames.representative import representative_frames

    assert RepresentativeFramesConfig().arguments() == {}
    parameters = inspect.signature(representative_frames).parameters
    for name in _overridable(RepresentativeFramesConfig):
        config, expected = _set(RepresentativeFramesConfig, name, None)
        (argument, value), = config.arguments().items()
        assert argument in parameters and value == expected, name


def test_run_inputs_are_named_and_not_dataclass_settings():
    for config_class in CONFIGS:
        for name, reason in config_class.RUN_INPUTS.items():
            assert name in config_class.model_fields and reason, (config_class.__name__, name)
