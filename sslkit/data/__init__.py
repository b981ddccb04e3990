"""LightningDataModules for pretraining and downstream tasks."""

from sslkit.data.arrays import ArrayDataModule
from sslkit.data.base import BANK_LOADER, VAL_LOADER, ImageDataModule
from sslkit.data.contracts import Embedder, LabelledData, LabelledSplits
from sslkit.data.digits import DigitsDataModule
from sslkit.data.downstream import DomainAdaptationDataModule, LabelledDataModule
from sslkit.data.memory import InMemoryImages
from sslkit.data.readable import ReadableImages, UnreadableImageError
from sslkit.data.shifts import ShiftedDigitsDataModule, apply_shift
from sslkit.data.streaming import StreamingImageDataModule, convert_image_folder
from sslkit.data.subsets import held_out_splits, stratified_subset
from sslkit.data.synthetic import SyntheticImageDataModule
from sslkit.data.text import MLM_LOADER, TextClassificationDataModule, TextPretrainDataModule
from sslkit.data.video import MovingDigitsDataModule
from sslkit.data.vision import CIFAR10DataModule, CIFAR100DataModule, ImageFolderDataModule, STL10DataModule

__all__ = [
    "BANK_LOADER",
    "MLM_LOADER",
    "VAL_LOADER",
    "ArrayDataModule",
    "CIFAR10DataModule",
    "CIFAR100DataModule",
    "DigitsDataModule",
    "DomainAdaptationDataModule",
    "Embedder",
    "ImageDataModule",
    "ImageFolderDataModule",
    "InMemoryImages",
    "LabelledData",
    "LabelledDataModule",
    "LabelledSplits",
    "MovingDigitsDataModule",
    "ReadableImages",
    "STL10DataModule",
    "ShiftedDigitsDataModule",
    "StreamingImageDataModule",
    "SyntheticImageDataModule",
    "TextClassificationDataModule",
    "TextPretrainDataModule",
    "UnreadableImageError",
    "apply_shift",
    "convert_image_folder",
    "held_out_splits",
    "stratified_subset",
]
