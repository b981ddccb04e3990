"""DINO."""

from __future__ import annotations

import torch

from sslkit.heads import DINOHead
from sslkit.losses import DINOLoss
from sslkit.methods.base import SSLMethod
from sslkit.utils.momentum import MomentumEncoder
from sslkit.utils.multicrop import multicrop_forward


class DINO(SSLMethod):
    """DINO (Caron et al., 2021, "Emerging Properties in Self-Supervised Vision
    Transformers", arXiv:2104.14294).

    Self-distillation with multi-crop: the views are ``num_global_views``
    global crops first, then any number of local crops (as a DataModule emits
    them from ``views: [global pipeline, local pipeline]``). The student
    (backbone + :class:`~sslkit.heads.DINOHead`) sees every crop, the teacher
    (their momentum copy) only the global ones; :class:`~sslkit.losses.DINOLoss`
    matches each student crop to the centred, sharpened teacher output of every
    other global crop. Crops of one resolution share one forward pass. The
    prototype layer gets no gradient during the first
    ``freeze_last_layer_epochs`` epochs. :meth:`embed` uses the student
    backbone (so the evaluation callbacks, which swap ``backbone`` for a
    fresh one, compare like with like); the paper evaluates the teacher,
    available as ``self.teacher.encoder[0]``.

    Args:
        proj_hidden_dim: hidden width of the head MLP.
        proj_bottleneck_dim: size of the L2-normalised bottleneck.
        num_prototypes: outputs of the head.
        proj_layers: linear layers of the head MLP.
        use_bn_in_head: BatchNorm in the head MLP.
        norm_last_layer: fix the prototype norms at 1.
        student_temp: student temperature.
        teacher_temp: teacher temperature after warm-up.
        warmup_teacher_temp: teacher temperature at the start.
        warmup_teacher_temp_epochs: epochs of teacher-temperature warm-up.
        center_momentum: EMA rate of the teacher centre.
        freeze_last_layer_epochs: epochs without updates of the prototype layer.
        num_global_views: number of global crops (the first views).
        base_tau: teacher decay rate at the start.
        final_tau: teacher decay rate at the end.
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod`.
    """

    def __init__(self, proj_hidden_dim: int = 2048, proj_bottleneck_dim: int = 256, num_prototypes: int = 65536,
                 proj_layers: int = 3, use_bn_in_head: bool = False, norm_last_layer: bool = True,
                 student_temp: float = 0.1, teacher_temp: float = 0.04, warmup_teacher_temp: float = 0.04,
                 warmup_teacher_temp_epochs: int = 0, center_momentum: float = 0.9, freeze_last_layer_epochs: int = 1,
                 num_global_views: int = 2, base_tau: float = 0.996, final_tau: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        if num_global_views < 1 or freeze_last_layer_epochs < 0:
            raise ValueError("num_global_views must be >= 1 and freeze_last_layer_epochs >= 0")
        self.num_global_views = num_global_views
        self.num_views = (max(num_global_views, 2), None)
        self.freeze_last_layer_epochs = freeze_last_layer_epochs
        self.head = DINOHead(self.backbone.num_features, proj_hidden_dim, proj_bottleneck_dim, num_prototypes, proj_layers,
                             use_bn_in_head, norm_last_layer)
        self.teacher = MomentumEncoder(self.backbone, self.head, base_tau=base_tau, final_tau=final_tau)
        self.criterion = DINOLoss(num_prototypes, teacher_temp, warmup_teacher_temp, warmup_teacher_temp_epochs,
                                  student_temp, center_momentum)

    def training_loss(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        g = self.num_global_views
        n = views[0].shape[0]
        student, features = [], None
        for count, f in multicrop_forward(self.backbone, views):  # one pass per resolution
            features = f[:n] if features is None else features
            student.extend(self.head(f).chunk(count))
        teacher = list(self.teacher(torch.cat(views[:g])).chunk(g))
        loss = self.criterion(student, teacher, epoch=self.current_epoch)
        return {"loss": loss, "features": features,
                "teacher_temp": self.criterion.teacher_temperature(self.current_epoch)}

    def on_after_backward(self) -> None:
        if self.current_epoch < self.freeze_last_layer_epochs:
            for p in self.head.last_layer.parameters():
                p.grad = None

