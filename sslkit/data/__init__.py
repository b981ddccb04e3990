"""LightningDataModules for pretraining and downstream tasks."""

from sslkit.data.base import BANK_LOADER, VAL_LOADER, ImageDataModule
from sslkit.data.digits import DigitsDataModule
from sslkit.data.subsets import stratified_subset
from sslkit.data.text import MLM_LOADER, TextClassificationDataModule, TextPretrainDataModule

__all__ = [
    "BANK_LOADER", "MLM_LOADER", "VAL_LOADER", "DigitsDataModule", "ImageDataModule", "TextClassificationDataModule",
    "TextPretrainDataModule", "stratified_subset",
]
