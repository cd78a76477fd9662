"""Loggers a config's ``logging`` section switches on: TensorBoard event files and MLflow
runs, written live through the callback protocol or from a finished run folder
(``evo export --tensorboard``, ``--mlflow``). Importing this package registers them; their
packages (tensorboardX, mlflow) are imported only when a run or an export uses them."""

from __future__ import annotations

from evo.callbacks import register_logger
from evo.loggers.mlflow import MlflowFactory, MlflowLogger, export_mlflow
from evo.loggers.tensorboard import TensorBoardFactory, TensorBoardLogger, export_tensorboard

register_logger("tensorboard", TensorBoardFactory())
register_logger("mlflow", MlflowFactory())

__all__ = [
    "MlflowLogger",
    "TensorBoardLogger",
    "export_mlflow",
    "export_tensorboard",
]
