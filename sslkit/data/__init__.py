"""LightningDataModules for pretraining and downstream tasks."""

from sslkit.data.base import BANK_LOADER, VAL_LOADER, ImageDataModule
from sslkit.data.digits import DigitsDataModule
from sslkit.data.downstream import DomainAdaptationDataModule, LabelledDataModule
from sslkit.data.shifts import ShiftedDigitsDataModule, apply_shift
from sslkit.data.subsets import stratified_subset

__all__ = ["BANK_LOADER", "VAL_LOADER", "DigitsDataModule", "DomainAdaptationDataModule", "ImageDataModule", "LabelledDataModule",
           "ShiftedDigitsDataModule", "apply_shift", "stratified_subset"]
