"""LightningDataModules for pretraining and downstream tasks."""

from sslkit.data.base import BANK_LOADER, VAL_LOADER, ImageDataModule
from sslkit.data.digits import DigitsDataModule
from sslkit.data.subsets import stratified_subset

__all__ = ["BANK_LOADER", "VAL_LOADER", "DigitsDataModule", "ImageDataModule", "stratified_subset"]
